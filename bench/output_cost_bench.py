"""The cost to the agent of shipping the output of many running jobs: its cycle time with shipping against without.

    ./bench/run-output-cost [--jobs 500] [--cycles 10] [--repeat 3] [--watched-cycles N] [--no-watched]

Run it through ``bench/run-output-cost`` (root: it starts a throw-away Slurm cluster with a partition that lets 500
small jobs run at once on a 2-core node, and a throw-away PostgreSQL; see docs/benchmarks.md). It creates
``--jobs`` submissions through the API whose job prints a line to stdout and one to stderr every second (bash
builtins only: no process per line), and an agent in this process submits them; once every job runs, the agent's
cycles are timed (``Agent.cycle``, an interval apart as ``agent run`` does) in two arms that alternate, round after
round: shipping on, and shipping off (``can_ship = False``). After each switch some cycles are left uncounted
(``SHIP_EVERY``, or 2 when watched: the first shipment after a pause carries the backlog). First with nobody
watching (each job's output goes every ``SHIP_EVERY`` cycles), then, unless ``--no-watched``, with every submission
watched (each job's output every cycle). It prints the median, p90 and mean cycle per arm, the ratios, each
round's medians (the noise), the requests and bytes of output shipped per cycle, and how far the server's copy is
behind the files.

Every loop is bounded; the jobs are scancel-ed and the server stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from _setup import ROOT  # noqa: F401  (puts the repository on sys.path)
from agent_bench import CLUSTER, Api, Server, clear_cluster, fresh_directory, percentile

PARTITION = "bench-output"  # bench/run-output-cost adds it (OverSubscribe); without it the default partition
JOB_MEMORY = "16M"
# A line a second on each stream, with builtins only (a fork per line for 500 jobs would load the 2 cores more than
# the agent does); ``read -t 1`` on a pipe nobody writes is the sleep. Bounded: an hour of lines, and --time.
PRINTING = """#!/bin/bash
#SBATCH --output=out.txt
#SBATCH --error=err.txt
#SBATCH --time=60
exec 3<> <(:)
for ((n = 1; n <= 3600; n++)); do
  echo "line $n of job $SLURM_JOB_ID at $EPOCHREALTIME"
  echo "warning $n" >&2
  read -t 1 -u 3
done
"""


@dataclass
class Arm:
    """The timed cycles of one arm, and what they shipped."""

    cycles: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)  # output requests per cycle
    sent: list[int] = field(default_factory=list)  # bytes of request bodies to the output endpoints per cycle
    shipping: list[float] = field(default_factory=list)  # seconds in Agent.ship_output per cycle
    failed: int = 0


class Counter:
    """Counts the agent's requests to the output endpoints and their bodies' bytes (every ApiClient)."""

    def __init__(self):
        from jobbergate_cli.client import ApiClient

        self.lock = threading.Lock()
        self.requests = 0
        self.sent = 0
        self.original = ApiClient.request
        counter = self

        def counted(client, method, path, **kwargs):
            if "/output" in path:
                body = kwargs.get("data") or kwargs.get("json")
                size = len(body) if isinstance(body, (bytes, str)) else len(str(body)) if body else 0
                with counter.lock:
                    counter.requests += 1
                    counter.sent += size
            return counter.original(client, method, path, **kwargs)

        ApiClient.request = counted

    def take(self) -> tuple[int, int]:
        with self.lock:
            taken = (self.requests, self.sent)
            self.requests = self.sent = 0
        return taken

    def close(self) -> None:
        from jobbergate_cli.client import ApiClient

        ApiClient.request = self.original


def running_jobs() -> int:
    output = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return len(output.split())


def partition_exists(name: str) -> bool:
    found = subprocess.run(["scontrol", "show", "partition", name], capture_output=True, text=True, timeout=60)
    return found.returncode == 0


def stepd_memory_mib() -> float:
    """Resident memory of every slurmstepd and of the jobs' shells, MiB (what 500 running jobs cost the node)."""
    rss = subprocess.run(["ps", "-C", "slurmstepd,bash", "-o", "rss="], capture_output=True, text=True).stdout
    return sum(int(value) for value in rss.split()) / 1024


class Run:
    def __init__(self, server: Server, jobs: int, work: Path):
        from jobbergate_cli.agent.loop import Agent
        from jobbergate_cli.agent.settings import AgentSettings

        self.server = server
        self.user = Api(server.url, server.user_token)
        self.work = work
        self.settings = AgentSettings(
            base_api_url=server.url, token=server.agent_token, cache_dir=str(work / "agent-cache"), min_uid=0
        )
        self.agent = Agent.from_settings(self.settings)
        self.shipping_seconds = 0.0
        ship_output = self.agent.ship_output

        def timed_ship_output(*args, **kwargs):
            started = time.monotonic()
            try:
                return ship_output(*args, **kwargs)
            finally:
                self.shipping_seconds += time.monotonic() - started

        self.agent.ship_output = timed_ship_output  # type: ignore[method-assign]
        self.counter = Counter()
        self.jobs = jobs
        self.directories: list[Path] = []

    def create(self) -> list[int]:
        row = self.user.call("POST", "job-scripts", json={"name": "output cost", "description": "output_cost_bench"})
        script = PRINTING.encode()
        self.user.call("PUT", f"job-scripts/{row['id']}/upload/ENTRYPOINT", files={"upload_file": ("job.sh", script)})
        arguments = [f"--mem={JOB_MEMORY}"] + ([f"--partition={PARTITION}"] if partition_exists(PARTITION) else [])
        ids = []
        root = fresh_directory("jbg-output-cost-")
        self.directories.append(root)
        for n in range(self.jobs):
            directory = root / f"job-{n}"
            directory.mkdir(mode=0o755)
            body = {
                "name": f"printing {n}",
                "job_script_id": row["id"],
                "client_id": CLUSTER,
                "execution_directory": str(directory),
                "sbatch_arguments": arguments,
            }
            ids.append(self.user.call("POST", "job-submissions", json=body)["id"])
        return ids

    def cycle(self, arm: Arm | None) -> None:
        """One agent cycle, then the rest of the interval (cycles start an interval apart, as ``agent run``)."""
        from jobbergate_cli.agent.base import CycleFailed

        started = time.monotonic()
        failed = False
        self.shipping_seconds = 0.0
        try:
            self.agent.cycle()
        except CycleFailed as error:
            print(f"  cycle failed: {error}", flush=True)
            failed = True
        elapsed = time.monotonic() - started
        requests, sent = self.counter.take()
        if arm is not None:
            arm.failed += failed
            arm.cycles.append(elapsed)
            arm.requests.append(requests)
            arm.sent.append(sent)
            arm.shipping.append(self.shipping_seconds)
        time.sleep(max(0.0, self.settings.interval - elapsed))

    def start_jobs(self) -> float:
        """Cycles until every job runs (bounded); the seconds it took."""
        started = time.monotonic()
        deadline = started + max(300, self.jobs)
        while time.monotonic() < deadline:
            self.cycle(None)
            if running_jobs() >= self.jobs:
                return time.monotonic() - started
        raise RuntimeError(f"only {running_jobs()} of {self.jobs} jobs run after {deadline - started:.0f} s")

    def measure(self, rounds: int, cycles: int, label: str, *, warmup: int) -> dict[str, Arm]:
        arms = {"on": Arm(), "off": Arm()}
        per_round: dict[str, list[float]] = defaultdict(list)
        for index in range(rounds):
            for name in ("off", "on") if index % 2 == 0 else ("on", "off"):
                self.agent.can_ship = name == "on"
                for _ in range(warmup):
                    self.cycle(None)  # after a switch: the first shipment carries what piled up meanwhile
                arm = Arm()
                for _ in range(cycles):
                    self.cycle(arm)
                if name == "on" and not self.agent.can_ship:
                    raise RuntimeError("the agent stopped shipping (the server refused the output endpoints)")
                per_round[name].append(statistics.median(arm.cycles))
                for key in ("cycles", "requests", "sent", "shipping"):
                    getattr(arms[name], key).extend(getattr(arm, key))
                arms[name].failed += arm.failed
                print(
                    f"  {label} round {index + 1} shipping {name}: median {statistics.median(arm.cycles):.3f} s, "
                    f"p90 {percentile(arm.cycles, 0.9):.3f} s, max {max(arm.cycles):.3f} s, output requests "
                    f"{sum(arm.requests)}, {sum(arm.sent) / 1024:.0f} KiB sent",
                    flush=True,
                )
        report(label, arms, per_round, rounds, cycles)
        return arms

    def lag(self) -> str:
        """How much of what the jobs wrote the server holds (its copy lags by up to a shipment); read from
        PostgreSQL, so no person's read makes a submission watched."""
        import psycopg

        written = sum(
            (directory / name).stat().st_size
            for root in self.directories
            for directory in root.iterdir()
            for name in ("out.txt", "err.txt")
            if (directory / name).exists()
        )
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
            held = connection.execute("SELECT coalesce(sum(length), 0) FROM submissions_joboutput").fetchone()[0]
        return f"the server holds {held:,} of the {written:,} bytes the jobs wrote ({held / max(written, 1):.0%})"

    def watch_all(self, ids: list[int]) -> None:
        """A person reads each submission's stdout once (the server counts it watched for an hour: see main)."""
        for submission_id in ids:
            response = self.user.session.get(
                f"{self.server.url}/jobbergate/job-submissions/{submission_id}/output/stdout",
                params={"limit": 1},
                timeout=30,
            )
            response.raise_for_status()
        from jobbergate_cli.agent import api

        watched = sum(bool(row.get("output_watched")) for row in api.active(self.agent.client, 100))
        if watched < len(ids):
            raise RuntimeError(f"only {watched} of {len(ids)} submissions are watched")

    def close(self) -> None:
        self.counter.close()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


def report(label: str, arms: dict[str, Arm], per_round: dict[str, list[float]], rounds: int, cycles: int) -> None:
    print(f"\n{label}: {rounds} rounds of {cycles} timed cycles per arm")
    print(
        "| arm | median s | p90 s | mean s | max s | round medians s | output requests / cycle | KiB / cycle "
        "| in ship_output, mean s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("off", "on"):
        arm = arms[name]
        print(
            f"| shipping {name} | {statistics.median(arm.cycles):.3f} | {percentile(arm.cycles, 0.9):.3f} | "
            f"{statistics.mean(arm.cycles):.3f} | {max(arm.cycles):.3f} | "
            f"{', '.join(f'{value:.3f}' for value in per_round[name])} | "
            f"{statistics.mean(arm.requests):.1f} | {statistics.mean(arm.sent) / 1024:.1f} | "
            f"{statistics.mean(arm.shipping):.3f} |"
        )
    on, off = arms["on"].cycles, arms["off"].cycles
    ratios = {
        "median": statistics.median(on) / statistics.median(off),
        "p90": percentile(on, 0.9) / percentile(off, 0.9),
        "mean": statistics.mean(on) / statistics.mean(off),
    }
    verdict = "met" if max(ratios.values()) <= 1.3 else "MISSED"
    failed = arms["on"].failed + arms["off"].failed
    print(
        f"ratio on / off: median {ratios['median']:.2f}x, p90 {ratios['p90']:.2f}x, mean {ratios['mean']:.2f}x "
        f"(goal: at most 1.3x: {verdict}); failed cycles {failed}\n",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500, help="Running jobs that print (default 500).")
    parser.add_argument("--cycles", type=int, default=10, help="Timed cycles per arm and round (default 10).")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds; the arms alternate within each (default 3).")
    parser.add_argument("--watched-cycles", type=int, default=0, help="Timed cycles when watched (default: --cycles).")
    parser.add_argument("--no-watched", action="store_true", help="Skip the part where every submission is watched.")
    parser.add_argument("--workers", type=int, default=2, help="Server workers (default 2).")
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF") or os.geteuid() != 0:
        print("run it through bench/run-output-cost, as root (it needs a throw-away Slurm cluster)", file=sys.stderr)
        return 2
    os.environ["JOBBERGATE_OUTPUT_WATCHED_SECONDS"] = "3600"  # one read makes a submission watched for the run
    work = Path(tempfile.mkdtemp(prefix="jobbergate-output-cost-"))
    server = Server(args.workers)
    run = None
    try:
        run = Run(server, args.jobs, work)
        database = os.environ.get("DATABASE_URL", "sqlite").split(":")[0]
        print(f"server: granian, {args.workers} workers, {database}; Slurm: {os.environ['SLURM_CONF']}", flush=True)
        clear_cluster()
        started = time.monotonic()
        ids = run.create()
        print(f"{args.jobs} submissions created in {time.monotonic() - started:.1f} s", flush=True)
        took = run.start_jobs()
        print(
            f"all {args.jobs} jobs run, {took:.1f} s after the agent's first cycle; slurmstepd and bash resident: "
            f"{stepd_memory_mib():.0f} MiB",
            flush=True,
        )
        from jobbergate_cli.agent.shipping import SHIP_EVERY

        for _ in range(2 * SHIP_EVERY):  # every job's output paths asked once (scontrol), every stream started
            run.cycle(None)
        run.measure(args.repeat, args.cycles, "nobody watching", warmup=SHIP_EVERY)
        print(run.lag(), flush=True)
        if not args.no_watched:
            run.watch_all(ids)
            run.measure(args.repeat, args.watched_cycles or args.cycles, "all watched", warmup=2)
            print(run.lag(), flush=True)
    finally:
        clear_cluster()  # scancel every job, wait for the controller to let them go
        if run is not None:
            run.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
