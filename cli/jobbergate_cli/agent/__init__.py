"""The cluster agent (``jobbergate agent run``): Slurm's side of job submissions. See core.py."""
