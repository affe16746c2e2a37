"""The cluster agent against a plain ``sbatch --parsable`` loop, on a real Slurm, in the same run.

    ./bench/run-agent [--submissions 500] [--latency-submissions 100] [--repeat 3]

Run it through ``bench/run-agent`` (root: it starts a throw-away Slurm cluster and PostgreSQL); see
docs/benchmarks.md. Each repeat measures, on the same cluster and with the same sbatch arguments (``--hold`` by
default, so the node does not run thousands of jobs meanwhile):

- plain: ``sbatch --parsable`` over N copies of the job script, one process after another;
- throughput: N submissions created through the API with the agent stopped, then ``jobbergate agent run`` started
  (a process, default settings but the URL and token): the time from its start until no submission is left
  without a Slurm job id;
- latency: the agent running at its default interval, submissions created one by one at a steady pace; for each,
  the time from the create response to the first poll (every 50 ms) that sees it has its job id.

Everything created is scancel-ed at the end of each part, and the controller is left to purge it before the next.
With ``--profile`` (the default) one more throughput run drives the agent in-process with every API request and
Slurm command timed, and one latency run is made with a 1 s interval, to show where the time goes.
Every loop is bounded; the server, the agents and the jobs are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import requests
from _setup import ROOT  # first: it puts the repository on sys.path, for testkit

from testkit.server import free_port, serve, stop_process

PYTHON = str(ROOT / ".venv/bin/python")
JOBBERGATE = str(ROOT / ".venv/bin/jobbergate")
CLUSTER = "bench-cluster"
USER = "bench-user@example.com"
ENTRYPOINT = b"#!/bin/bash\n#SBATCH --output=/dev/null\ntrue\n"
AGENT_PERMISSIONS = ",".join(
    [
        "jobbergate:job-scripts:read",
        "jobbergate:job-submissions:read",
        "jobbergate:job-submissions:update",
        "jobbergate:clusters:read",
        "jobbergate:clusters:update",
    ]
)
POLL = 0.05  # seconds between polls of the API


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class Api:
    """A requests session with one token; raises on any non-2xx answer."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.base}/jobbergate/{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def waiting(self) -> set[int]:
        """Ids of this user's submissions still CREATED (no job id yet), every page."""
        found, page = set(), 1
        while page <= 100:
            body = self.call("GET", "job-submissions", params={"submit_status": "CREATED", "size": 100, "page": page})
            found |= {row["id"] for row in body["items"]}
            if page >= body["pages"]:
                return found
            page += 1
        return found

    def delete(self, ids: set[int]) -> None:
        for row_id in sorted(ids):
            self.call("DELETE", f"job-submissions/{row_id}")


class Watcher:
    """Which submissions have no Slurm job id yet: read from PostgreSQL directly (about 0.3 ms, so polling every
    50 ms adds no load on the server the agent talks to); through the API list (``submit_status=CREATED``) when
    the database is SQLite."""

    def __init__(self, api: Api):
        self.api = api
        self.connection = None
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith("postgres"):
            import psycopg

            self.connection = psycopg.connect(url, autocommit=True)

    @property
    def source(self) -> str:
        return "PostgreSQL, read directly" if self.connection else "the API list endpoint"

    def waiting(self, ids: set[int]) -> set[int]:
        """The ones of ``ids`` still without a job id."""
        if self.connection is None:
            return self.api.waiting() & ids
        rows = self.connection.execute(
            "SELECT id FROM submissions_jobsubmission WHERE id = ANY(%s) AND slurm_job_id IS NULL", (list(ids),)
        ).fetchall()
        return {row[0] for row in rows}


class Server:
    """Migrated database, a user and a cluster token, the production server on 127.0.0.1."""

    def __init__(self, workers: int):
        self.var_dir = tempfile.mkdtemp(prefix="jobbergate-agent-bench-")
        self.environment = {
            **os.environ,
            "JOBBERGATE_VAR_DIR": self.var_dir,
            "JOBBERGATE_LOG_LEVEL": "WARNING",
        }
        self.environment.setdefault("DATABASE_URL", f"sqlite:///{self.var_dir}/db.sqlite3")
        self.manage("migrate", "-v0")
        self.manage("createsuperuser", "--noinput", "--username", USER, "--email", USER)
        self.user_token = self.manage("create_api_token", "--user", USER)  # an ordinary user's permissions
        self.agent_token = self.manage(
            "create_api_token", "--cluster", CLUSTER, "--permissions", AGENT_PERMISSIONS, "--name", "bench agent"
        )
        bind = f"127.0.0.1:{free_port()}"
        self.url = f"http://{bind}"
        with contextlib.ExitStack() as running:  # on a failed start: the server stopped, then its folder removed
            running.callback(shutil.rmtree, self.var_dir, ignore_errors=True)
            arguments = ("--workers", str(workers), "--log-level", "warning")
            running.enter_context(
                serve(bind=bind, cwd=ROOT, environment=self.environment, log=None, arguments=arguments, seconds=60)
            )
            self.running = running.pop_all()

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.environment, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]}: {result.stderr[-2000:]}")
        lines = result.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def stop(self) -> None:
        """Stop the server, then remove the server's folder."""
        self.running.close()


class Agent:
    """``jobbergate agent run`` as its own process: default settings but the API's URL and the cluster token."""

    def __init__(self, server: Server, log_path: Path, interval: float | None = None):
        cache = tempfile.mkdtemp(prefix="agent-cache-", dir=log_path.parent)  # removed with the logs' folder
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "SLURM_CONF": os.environ["SLURM_CONF"],
            "JOBBERGATE_AGENT_BASE_API_URL": server.url,
            "JOBBERGATE_AGENT_TOKEN": server.agent_token,
            "JOBBERGATE_AGENT_CACHE_DIR": cache,
            "JOBBERGATE_AGENT_CONFIG": "/nonexistent",
            "JOBBERGATE_AGENT_MIN_UID": "0",  # the bench submits as root, as its plain sbatch loop does
        }
        if interval is not None:
            environment["JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS"] = str(interval)
        self.log_path = log_path
        self.log = log_path.open("w")
        self.wall_start = time.time()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [JOBBERGATE, "agent", "run"], env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        stop_process(self.process, seconds=60)
        self.log.close()

    def timeline(self) -> dict[str, float]:
        """Seconds from the process start to its first log line, and to its first and last sbatch reported."""
        stamps: dict[str, float] = {}
        failures = 0
        for line in self.log_path.read_text().splitlines():
            match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", line)
            if not match:
                continue
            moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - self.wall_start
            stamps.setdefault("first log line", moment)
            if " is Slurm job " in line:
                stamps.setdefault("first job reported", moment)
                stamps["last job reported"] = moment
            failures += "cycle failed" in line
        stamps["failed cycles"] = failures
        return stamps


# Slurm -------------------------------------------------------------------------------------------------------------


def slurm_environment() -> dict[str, str]:
    """What the agent gives sbatch (jobbergate_cli.slurm.clean_environment), for the plain loop too."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/bash",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "SLURM_CONF": os.environ["SLURM_CONF"],
    }


def jobs_in_controller() -> int:
    output = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return len(output.split())


def clear_cluster(limit: float = 120) -> float:
    """scancel every job of root (on this throw-away cluster: only ours) and wait, bounded, for the controller to
    purge them, so each part starts with an empty queue. The seconds it took."""
    started = time.monotonic()
    subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=120)
    while jobs_in_controller() and time.monotonic() - started < limit:
        time.sleep(1)
    left = jobs_in_controller()
    if left:
        print(f"  note: {left} jobs still in the controller after {limit:g} s", flush=True)
    return time.monotonic() - started


def fresh_directory(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)
    return directory


def plain_loop(count: int, arguments: list[str]) -> float:
    """Seconds for ``sbatch --parsable`` over ``count`` copies of the job script, one after another."""
    directory = fresh_directory("jbg-bench-plain-")
    names = []
    for index in range(count):
        path = directory / f"job-{index}.sh"
        path.write_bytes(ENTRYPOINT)
        names.append(path.name)
    environment = slurm_environment()
    started = time.perf_counter()
    for name in names:
        result = subprocess.run(
            ["sbatch", "--parsable", *arguments, name],
            cwd=directory,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0 or not result.stdout.strip().split(";")[0].isdigit():
            raise RuntimeError(f"sbatch failed: {result.stderr.strip()}")
    elapsed = time.perf_counter() - started
    shutil.rmtree(directory, ignore_errors=True)
    return elapsed


# The API side ------------------------------------------------------------------------------------------------------


class Bench:
    """What every part shares: the server, the user's API session, the watcher, the job script, the arguments."""

    def __init__(self, server: Server, arguments: list[str], work: Path):
        self.server = server
        self.user = Api(server.url, server.user_token)
        self.watcher = Watcher(self.user)
        self.arguments = arguments
        self.work = work
        row = self.user.call("POST", "job-scripts", json={"name": "agent bench", "description": "agent_bench.py"})
        self.user.call(
            "PUT", f"job-scripts/{row['id']}/upload/ENTRYPOINT", files={"upload_file": ("job.sh", ENTRYPOINT)}
        )
        self.job_script_id = row["id"]
        self.made: set[int] = set()  # submissions not deleted yet

    def create(self, directory: Path, name: str, api: Api | None = None, client_id: str = CLUSTER) -> int:
        body = {
            "name": name,
            "job_script_id": self.job_script_id,
            "client_id": client_id,
            "execution_directory": str(directory),
            "sbatch_arguments": self.arguments,
        }
        row_id = (api or self.user).call("POST", "job-submissions", json=body)["id"]
        self.made.add(row_id)
        return row_id

    def agent(self, name: str, interval: float | None = None) -> Agent:
        return Agent(self.server, self.work / f"agent-{name}-{time.time_ns()}.log", interval=interval)

    def reset(self) -> None:
        """Cancel every job and delete every submission made so far, so the next part starts from an empty queue
        and no submission for the agent to track (the agent was stopped before it saw the cancellations)."""
        clear_cluster()
        self.user.delete(self.made)
        self.made.clear()


def throughput(bench: Bench, count: int, agents: int = 1) -> dict:
    """Create ``count`` submissions with no agent running, then start ``agents`` agents of the cluster at once (each
    a process with its own cache folder, so its own claims) and time them from the first start to the last job id."""
    directory = fresh_directory("jbg-bench-agent-")
    started = time.perf_counter()
    ids = {bench.create(directory, f"throughput {n}") for n in range(count)}
    created = time.perf_counter() - started
    running = [bench.agent(f"throughput-{index}") for index in range(agents)]
    first = running[0]
    try:
        deadline = first.started + max(300, count)
        while True:
            waiting = bench.watcher.waiting(ids)
            if not waiting:
                elapsed = time.perf_counter() - first.started
                break
            if time.perf_counter() > deadline or any(agent.process.poll() is not None for agent in running):
                raise RuntimeError(f"{len(waiting)} submissions still without a job id; see {first.log_path}")
            time.sleep(POLL)
    finally:
        for agent in running:
            agent.stop()
    shutil.rmtree(directory, ignore_errors=True)
    shares = [agent.log_path.read_text().count(" is Slurm job ") for agent in running]
    return {"agent_s": elapsed, "create_s": created, "timeline": first.timeline(), "shares": shares}


def latency(bench: Bench, count: int, spread: float, interval: float | None = None) -> dict:
    """With the agent running, create ``count`` submissions evenly over ``spread`` seconds; per submission the
    seconds from its create response to the first poll, started after it, that finds it has its job id."""
    directory = fresh_directory("jbg-bench-latency-")
    agent = bench.agent("latency", interval=interval)
    created: dict[int, float] = {}
    seen: dict[int, float] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    try:
        time.sleep(1.5)  # its start-up and first cycle (the arrivals below cover several intervals anyway)
        if agent.process.poll() is not None:
            raise RuntimeError(f"the agent exited; see {agent.log_path}")

        def creator():
            creating = Api(bench.server.url, bench.server.user_token)
            begin = time.perf_counter()
            try:
                for n in range(count):
                    pause = begin + n * spread / count - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    row_id = bench.create(directory, f"latency {n}", api=creating)
                    answered = time.perf_counter()
                    with lock:
                        created[row_id] = answered
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        thread = threading.Thread(target=creator, daemon=True)
        thread.start()
        deadline = time.perf_counter() + spread + 120
        while time.perf_counter() < deadline and not errors:
            asked = time.perf_counter()
            with lock:
                candidates = {row_id: at for row_id, at in created.items() if row_id not in seen and at < asked}
            if candidates:
                waiting = bench.watcher.waiting(set(candidates))
                answered = time.perf_counter()
                with lock:
                    for row_id in candidates.keys() - waiting:
                        seen[row_id] = answered
            if len(seen) == count:
                break
            time.sleep(POLL)
        thread.join(timeout=30)
        if errors:
            raise errors[0]
        if len(seen) < count:
            raise RuntimeError(f"only {len(seen)} of {count} submissions got a job id in time; see {agent.log_path}")
    finally:
        agent.stop()
    shutil.rmtree(directory, ignore_errors=True)
    values = [seen[row_id] - created[row_id] for row_id in created]
    return {
        "median_s": statistics.median(values),
        "p95_s": percentile(values, 0.95),
        "max_s": max(values),
        "min_s": min(values),
        "failed cycles": agent.timeline()["failed cycles"],
    }


# Profile -----------------------------------------------------------------------------------------------------------


def profile_cycle(bench: Bench, count: int) -> None:
    """One agent cycle in-process over ``count`` pending submissions, each API request and Slurm command timed
    (in whichever thread the agent runs them)."""
    from jobbergate_cli.agent.loop import Agent as InProcessAgent
    from jobbergate_cli.agent.settings import AgentSettings

    directory = fresh_directory("jbg-bench-profile-")
    ids = {bench.create(directory, f"profile {n}") for n in range(count)}
    cache = tempfile.mkdtemp(prefix="jobbergate-agent-cache-")
    server = bench.server
    settings = AgentSettings(base_api_url=server.url, token=server.agent_token, cache_dir=cache, min_uid=0)
    in_process = InProcessAgent.from_settings(settings)
    spent: dict[str, list[float]] = defaultdict(list)

    def category(method: str, path: str) -> str:
        path = re.sub(r"\d+", "{id}", path.split("?")[0])
        path = re.sub(r"upload/[^/]+$", "upload/{name}", path)
        return f"API {method} {path}"

    from jobbergate_cli.client import ApiClient

    request, run, place_files = ApiClient.request, in_process.slurm.run, in_process.place_files
    lock = threading.Lock()

    def timed_request(client, method, path, **kwargs):  # every ApiClient: the agent may make one per thread
        started = time.perf_counter()
        try:
            return request(client, method, path, **kwargs)
        finally:
            with lock:
                spent[category(method, path)].append(time.perf_counter() - started)

    def timed_run(argv, **kwargs):
        started = time.perf_counter()
        try:
            return run(argv, **kwargs)
        finally:
            with lock:
                spent[f"Slurm {Path(argv[0]).name}"].append(time.perf_counter() - started)

    def timed_write(*args, **kwargs):
        started = time.perf_counter()
        try:
            return place_files(*args, **kwargs)
        finally:
            spent["(place_files: the files written as their owner)"].append(time.perf_counter() - started)

    in_process.slurm.run, in_process.place_files = timed_run, timed_write  # type: ignore[method-assign]
    ApiClient.request = timed_request
    try:
        started = time.perf_counter()
        in_process.cycle()
        cycle = time.perf_counter() - started
    finally:
        ApiClient.request = request
    waiting = bench.watcher.waiting(ids)
    accounted = sum(sum(values) for key, values in spent.items() if not key.startswith("("))
    print(f"\nOne agent cycle in-process over {count} pending submissions: {cycle:.2f} s ({len(waiting)} left waiting)")
    print("\n| step | calls | total s | mean ms | share of the cycle |")
    print("|---|---|---|---|---|")
    for key, values in sorted(spent.items(), key=lambda item: -sum(item[1])):
        total = sum(values)
        print(f"| {key} | {len(values)} | {total:.2f} | {total / len(values) * 1000:.1f} | {total / cycle:.0%} |")
    if accounted <= cycle:
        print(f"| the rest (Python in the agent) | | {cycle - accounted:.2f} | | {(cycle - accounted) / cycle:.0%} |")
    else:
        print(
            f"\nThe steps add up to {accounted:.2f} s in a {cycle:.2f} s cycle: worker threads ran them side by side."
        )
    shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)


def claim_costs(bench: Bench, samples: int = 50) -> dict[str, float]:
    """Median ms the server takes to answer an agent's ``pending`` call, which claims what it lists: a page of 100
    pending submissions (claimed again each time by the same instance), and an empty one. A cluster of its own,
    so no running agent takes the rows."""
    token = bench.server.manage("create_api_token", "--cluster", "claim-probe", "--permissions", AGENT_PERMISSIONS)
    probe = Api(bench.server.url, token)
    probe.session.headers["X-Jobbergate-Agent-Instance"] = "claim-probe"
    directory = fresh_directory("jbg-bench-claim-")
    timings: dict[str, list[float]] = {"page of 100": [], "empty": []}
    for n in range(100):
        bench.create(directory, f"claim probe {n}", client_id="claim-probe")
    for label in ("page of 100", "empty"):
        size = 100 if label == "page of 100" else 1
        params = {"size": size, "page": 1 if label == "page of 100" else 1000}
        for _ in range(samples):
            started = time.perf_counter()
            answer = probe.call("GET", "job-submissions/agent/pending", params=params)
            timings[label].append(time.perf_counter() - started)
            assert len(answer["items"]) == (100 if label == "page of 100" else 0), answer["total"]
    shutil.rmtree(directory, ignore_errors=True)
    return {label: statistics.median(values) * 1000 for label, values in timings.items()}


def api_costs(bench: Bench, samples: int = 200) -> dict[str, float]:
    """Median ms of one create and of one poll of the watcher, alone (for context). The rows name another
    cluster, so no agent takes them."""
    directory = fresh_directory("jbg-bench-api-")
    creates, polls = [], []
    ids = set()
    for n in range(samples):
        started = time.perf_counter()
        ids.add(bench.create(directory, f"api cost {n}", client_id="no-agent"))
        creates.append(time.perf_counter() - started)
    for _ in range(samples):
        started = time.perf_counter()
        bench.watcher.waiting(ids)
        polls.append(time.perf_counter() - started)
    shutil.rmtree(directory, ignore_errors=True)
    return {"create": statistics.median(creates) * 1000, "poll": statistics.median(polls) * 1000}


# Main --------------------------------------------------------------------------------------------------------------


def summary(label: str, values: list[float], unit: str = "s", digits: int = 2) -> tuple:
    return (
        label,
        f"{statistics.median(values):.{digits}f}",
        ", ".join(f"{value:.{digits}f}" for value in values),
        f"{(max(values) - min(values)):.{digits}f}",
        unit,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=500, help="N of the throughput part and the plain loop.")
    parser.add_argument("--latency-submissions", type=int, default=100, help="Submissions of the latency part.")
    parser.add_argument("--spread", type=float, default=25.0, help="Seconds the latency part's creates span.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="Server workers.")
    parser.add_argument("--no-hold", action="store_true", help="Let the jobs run (default: --hold in both arms).")
    parser.add_argument("--no-profile", action="store_true", help="Skip the profiling runs.")
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF"):
        print("SLURM_CONF is not set: bench/run-agent starts a throw-away Slurm cluster", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("run it as root (the agent submits as root, scancel --user root cleans up)", file=sys.stderr)
        return 2
    arguments = [] if args.no_hold else ["--hold"]
    from jobbergate_cli.agent.settings import AgentSettings

    default_interval = AgentSettings().interval
    work = Path(tempfile.mkdtemp(prefix="jobbergate-agent-bench-logs-"))
    database = os.environ.get("DATABASE_URL", "sqlite").split(":")[0]
    server = Server(args.workers)
    rows: dict[str, list[float]] = defaultdict(list)
    timelines = []
    n = args.submissions
    try:
        bench = Bench(server, arguments, work)
        print(
            f"server: granian, {args.workers} workers, {database}; sbatch arguments {arguments}; "
            f"polling {bench.watcher.source} every {POLL * 1000:.0f} ms; Slurm: {os.environ['SLURM_CONF']}",
            flush=True,
        )
        bench.reset()
        for run in range(1, args.repeat + 1):
            print(f"run {run}/{args.repeat}", flush=True)
            plain = plain_loop(n, arguments)
            print(f"  plain sbatch loop x{n}: {plain:.2f} s ({plain / n * 1000:.1f} ms each)", flush=True)
            bench.reset()
            result = throughput(bench, n)
            timeline = result["timeline"]
            print(
                f"  agent: {result['agent_s']:.2f} s from its start to the last job id "
                f"(ratio {result['agent_s'] / plain:.2f}); API create x{n}: {result['create_s']:.2f} s; "
                f"agent log: {', '.join(f'{key} {value:.2f}' for key, value in timeline.items())}",
                flush=True,
            )
            bench.reset()
            two = throughput(bench, n, agents=2)
            print(
                f"  two agents: {two['agent_s']:.2f} s from the first start to the last job id "
                f"(two / one {two['agent_s'] / result['agent_s']:.2f}); jobs each: {two['shares']}",
                flush=True,
            )
            bench.reset()
            late = latency(bench, args.latency_submissions, args.spread)
            print(
                f"  latency x{args.latency_submissions} (default interval, {default_interval:g} s): "
                f"median {late['median_s']:.2f} s, "
                f"p95 {late['p95_s']:.2f} s, min {late['min_s']:.2f} s, max {late['max_s']:.2f} s, "
                f"failed cycles {late['failed cycles']}",
                flush=True,
            )
            bench.reset()
            rows["plain"].append(plain)
            rows["agent"].append(result["agent_s"])
            rows["ratio"].append(result["agent_s"] / plain)
            rows["two"].append(two["agent_s"])
            rows["two/one"].append(two["agent_s"] / result["agent_s"])
            rows["create"].append(result["create_s"])
            rows["median"].append(late["median_s"])
            rows["p95"].append(late["p95_s"])
            timelines.append(timeline)
        table = [
            summary(f"plain `sbatch --parsable` loop, {n} jobs", rows["plain"]),
            summary(f"agent: its start to the last of {n} job ids", rows["agent"]),
            summary("ratio agent / plain (goal: at most 1.5)", rows["ratio"], "x"),
            summary(f"two agents of the cluster: the first start to the last of {n} job ids", rows["two"]),
            summary("ratio two agents / one (goal: at most 1)", rows["two/one"], "x"),
            summary(f"API create of the {n} submissions (agent stopped)", rows["create"]),
            summary(
                f"latency create -> job id, median, {default_interval:g} s interval (goal: under 2 s)", rows["median"]
            ),
            summary("latency create -> job id, p95", rows["p95"]),
        ]
        print(f"\n| measure | median of {args.repeat} | the runs | spread | unit |")
        print("|---|---|---|---|---|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        keys = ["first log line", "first job reported", "last job reported"]
        print(
            "\nAgent log of the throughput part (seconds after its process started), median of the runs: "
            + ", ".join(f"{key} {statistics.median(t.get(key, float('nan')) for t in timelines):.2f}" for key in keys)
        )
        ratio, median = statistics.median(rows["ratio"]), statistics.median(rows["median"])
        pair = statistics.median(rows["two/one"])
        print(
            f"goals: ratio {ratio:.2f}x {'met' if ratio <= 1.5 else 'MISSED'} (at most 1.5x), "
            f"two agents / one {pair:.2f}x {'met' if pair <= 1 else 'MISSED'} (at most 1x), "
            f"median latency {median:.2f} s {'met' if median < 2 else 'MISSED'} (under 2 s)",
            flush=True,
        )
        if not args.no_profile:
            print("\nprofile", flush=True)
            costs = api_costs(bench)
            print(f"alone, median of 200: API create {costs['create']:.1f} ms, one poll {costs['poll']:.2f} ms")
            claims = claim_costs(bench)
            print(
                f"claims, median of 50 agent pending calls: a page of 100 claimed {claims['page of 100']:.1f} ms "
                f"({claims['page of 100'] / 100:.2f} ms per submission), nothing to claim {claims['empty']:.1f} ms"
            )
            bench.reset()
            profile_cycle(bench, n)
            bench.reset()
            fast = latency(bench, args.latency_submissions, args.spread, interval=1.0)
            print(
                f"\nlatency x{args.latency_submissions} with a 1 s interval: median {fast['median_s']:.2f} s, "
                f"p95 {fast['p95_s']:.2f} s, min {fast['min_s']:.2f} s, max {fast['max_s']:.2f} s",
                flush=True,
            )
            bench.reset()
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=120)
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
