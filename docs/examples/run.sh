#!/bin/bash
#SBATCH --job-name=by-hand
#SBATCH --time=5
wc -l input.txt
