"""Live job output on a real Slurm: from a line a job writes to the same line printed by ``logs --follow``.

    ./bench/run-output [--lines 20] [--pause 1] [--repeat 3]

Run it through ``bench/run-output`` (root: it starts a throw-away Slurm cluster and PostgreSQL, as the agent bench
does, whose server and agent it uses). Each repeat submits, through the API, a job that prints ``--lines`` lines,
one every ``--pause`` seconds, each with the time it was written; the agent runs at its default interval; the user
follows the output with ``jobbergate job-submissions logs ID --follow`` (a process, default interval) and the time
each line is printed is taken. It reports the delay per line (median, p90, max) over all repeats. Bounded: each
follow stops after the job ends, or after two minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _setup import ROOT  # noqa: F401  (puts the repository on sys.path)
from agent_bench import JOBBERGATE, Api, Server, clear_cluster, fresh_directory, percentile

COUNTING = """#!/bin/bash
#SBATCH --output=counting.out
for n in $(seq 1 {lines}); do
  echo "line $n at $(date +%s.%N)"
  sleep {pause}
done
"""


def follow_once(server: Server, user: Api, work: Path, lines: int, pause: float) -> list[float]:
    row = user.call("POST", "job-scripts", json={"name": "output bench", "description": "output_bench.py"})
    script = COUNTING.format(lines=lines, pause=pause).encode()
    user.call("PUT", f"job-scripts/{row['id']}/upload/ENTRYPOINT", files={"upload_file": ("job.sh", script)})
    directory = fresh_directory("output-bench-")
    submission = user.call(
        "POST",
        "job-submissions",
        json={
            "name": "output",
            "job_script_id": row["id"],
            "client_id": "bench-cluster",
            "execution_directory": str(directory),
        },
    )
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "BASE_API_URL": server.url,
        "JOBBERGATE_TOKEN": server.user_token,
        "JOBBERGATE_CONFIG": "/nonexistent",
    }
    reader = subprocess.Popen(
        [JOBBERGATE, "job-submissions", "logs", str(submission["id"]), "--follow"],
        env=environment,
        stdout=subprocess.PIPE,
    )
    delays = []
    deadline = time.monotonic() + lines * pause + 120
    assert reader.stdout is not None
    for line in reader.stdout:
        if b" at " in line:
            delays.append(time.time() - float(line.split(b" at ")[1]))
        if time.monotonic() > deadline:
            break
    reader.kill()
    reader.wait()
    shutil.rmtree(directory, ignore_errors=True)
    return delays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from agent_bench import Agent

    server = Server(workers=2)
    work = Path(tempfile.mkdtemp(prefix="jobbergate-output-bench-"))
    agent = Agent(server, work / "agent.log")
    try:
        user = Api(server.url, server.user_token)
        delays: list[float] = []
        for repeat in range(args.repeat):
            got = follow_once(server, user, work, args.lines, args.pause)
            print(f"repeat {repeat + 1}: {len(got)} lines, median {statistics.median(got):.2f} s" if got else "no line")
            delays += got
        print(f"\n{len(delays)} lines over {args.repeat} jobs (agent at its default interval, logs --follow default)")
        print("| delay from write to print | median s | p90 s | max s |")
        print("|---|---|---|---|")
        print(
            f"| logs --follow | {statistics.median(delays):.2f} | {percentile(delays, 0.9):.2f} | {max(delays):.2f} |"
        )
    finally:
        agent.stop()
        clear_cluster()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
