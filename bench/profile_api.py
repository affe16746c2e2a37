"""Where an API request's time goes, in-process: CPU per request and queries per request for the scenarios of the
side-by-side harness (../shared/bench-upstream: the upstream CLI's list call, get one job script, render from a
template, create a submission, health), with a profile of the top functions on demand.

    ./bench/run-profile [--requests 300] [--profile list] [--top 30] [--instructions 30]

Run it through ``bench/run-profile`` (a throw-away PostgreSQL unless DATABASE_URL is set). The seed is the harness's
shape (``api_bench.seed``): one user owning 10,000 job scripts, two files each, of 1,000 applications. The requests go
to the server's entry (``jobbergate.wsgi.application``) and through Django's whole stack (middleware, authentication
with a server-issued bearer token, DRF) but not through a socket or a server process: what is left is the application's
own cost, which the process model (granian, threads, keep-alive) cannot change. CPU is the process's
(``time.process_time``), so time spent waiting for PostgreSQL is not in it; "kernel ms" is the part of it spent in the
kernel on the request's behalf (system time: files made and read, the pipe to a render worker, locks, sockets), which
the instruction count below leaves out; the database's share is the "query ms" column (wall time of the queries) and,
when PostgreSQL runs on this machine, the "PG CPU ms" column: the CPU its server process for this connection used per
request (``/proc/PID/stat``, counted in clock ticks of 10 ms: read it over a few hundred requests). "GC ms" is the time
the garbage collector took per request, "GC max ms" its longest pause (a full collection stops every thread of the
process). The heap is settled as the server settles it (``jobbergate.wsgi.settle_heap``). ``--instructions N`` adds the
instructions per request of each scenario, counted by valgrind over N requests (bench/instructions.py): the measure to
compare two versions of the code by, since it does not drift with the machine as CPU time does.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _setup import start_django
from api_bench import seed
from instructions import COUNTED_REQUESTS, Meter, count_all

WARM_UP = 20  # requests of a scenario before the measured ones: imports, caches, the connection, prepared statements
TEMPLATE = b"""#!/bin/bash
#SBATCH --job-name={{ data.job_name }}
#SBATCH --ntasks={{ data.ntasks }}
{% for step in data.steps %}echo "step {{ loop.index }}: {{ step }}"
{% endfor %}sleep {{ data.sleep }}
"""


def scenarios(seeded: dict) -> dict:
    render = {
        "create_request": {"name": "profiled", "description": "bench/profile_api.py"},
        "render_request": {
            "template_output_name_mapping": {"job.sh.j2": "job.sh"},
            "sbatch_params": ["--time=00:05:00"],
            "param_dict": {"data": {"job_name": "p", "ntasks": 2, "steps": ["a", "b"], "sleep": 1}},
        },
    }
    submission = {
        "name": "profiled",
        "job_script_id": seeded["job_script"],
        "execution_directory": "/tmp",
        "sbatch_arguments": ["--time=00:05:00"],
    }
    query = "user_only=true&include_archived=false&sort_ascending=false&sort_field=id&page=1&size=50"
    return {
        "list": ("GET", f"/jobbergate/job-scripts?{query}", None, 200),
        "get": ("GET", f"/jobbergate/job-scripts/{seeded['job_script']}", None, 200),
        "create_js": ("POST", f"/jobbergate/job-scripts/render-from-template/{seeded['template']}", render, 201),
        "create_sub": ("POST", "/jobbergate/job-submissions", submission, 201),
        "health": ("GET", "/jobbergate/health", None, 204),
    }


def backend_cpu_ms(connection):
    """A function that reads the CPU milliseconds used so far by the PostgreSQL server process behind
    ``connection`` and its process id, or None when that process is not on this machine."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    path = f"/proc/{pid}/stat"
    if not os.path.exists(path):
        return None
    per_tick = 1000 / os.sysconf("SC_CLK_TCK")

    def used() -> tuple[float, int]:
        with open(path) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) * per_tick, pid  # utime and stime: fields 14 and 15 of proc(5)

    return used


class CollectorClock:
    """The garbage collector's time (``gc.callbacks``): total and longest pause since the last ``reset``."""

    def __init__(self):
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self.heard)

    def reset(self) -> None:
        self.total = self.longest = 0.0

    def heard(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            took = time.perf_counter() - self.started
            self.total += took
            self.longest = max(self.longest, took)


def served_by(application, *, token: str):
    """A caller of the WSGI ``application`` as the server calls it (``jobbergate.wsgi.application``, the server's
    entry): ``serve(method, path, body) -> (status, content)``, with the bearer ``token``; each request's environ is
    Django's ``RequestFactory``'s, made once per request shape, outside what a request's CPU counts. Not Django's test
    client, which connects signal receivers on every request and so leaves three ``weakref.finalize`` objects behind
    each time (Django's ``Signal.connect``): the heap grew by 12 objects a request, and the full collections that scan
    them grew with it (19 to 96 ms after a few thousand requests, where the server's own heap stays level)."""
    from django.test import RequestFactory

    factory = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {token}", SERVER_NAME="127.0.0.1")
    environs: dict[tuple[str, str, bytes], dict] = {}

    def serve(method: str, path: str, payload: bytes) -> tuple[int, bytes]:
        shape = (method, path, payload)
        if shape not in environs:
            environs[shape] = dict(factory.generic(method, path, payload, content_type="application/json").environ)
        environ = {**environs[shape], "wsgi.input": io.BytesIO(payload)}
        started: list[str] = []
        result = application(environ, lambda status, headers, exc_info=None: started.append(status))
        try:
            content = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        return int(started[0].split()[0]), content

    return serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario (bounded: at most 5000)")
    parser.add_argument("--job-scripts", type=int, default=10_000)
    parser.add_argument("--profile", help="profile this scenario and print its top functions")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="with --profile: EXPLAIN ANALYZE its SELECTs")
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count the instructions per request of each scenario over N requests, with valgrind "
        f"({COUNTED_REQUESTS.start} to {COUNTED_REQUESTS.stop - 1})",
    )
    # A child started by --instructions: counts one scenario in the database and var folder its parent seeded.
    parser.add_argument("--count", help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    parser.add_argument("--seeded", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        count_child(args)  # its --requests come from the parent's --instructions, checked there
        return
    args.requests = max(10, min(args.requests, 5000))
    if args.instructions and args.instructions not in COUNTED_REQUESTS:
        parser.error(f"--instructions takes {COUNTED_REQUESTS.start} to {COUNTED_REQUESTS.stop - 1} requests")
    var_dir = start_django("jobbergate-profile-")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    made = seed(owners=1, job_scripts=args.job_scripts, applications=1000, template=TEMPLATE)
    seeded = {"token": made["token"], "job_script": made["job_script_id"], "template": made["template_id"]}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would soon after such a load
    collector = CollectorClock()
    call = caller(seeded)

    columns = ("CPU ms p50", "CPU ms mean", "kernel ms", "queries", "query ms", "PG CPU ms", "GC ms", "GC max ms")
    print(f"{'scenario':<12} " + " ".join(f"{title:>{max(9, len(title))}}" for title in columns) + "  bytes")
    for name, (method, path, body, status) in scenarios(seeded).items():
        for _ in range(WARM_UP):
            call(method, path, body, status)
        with CaptureQueriesContext(connection) as queries:
            content = call(method, path, body, status)
        captured = list(queries.captured_queries)  # the next requests empty the connection's log
        query_ms = sum(float(q["time"]) for q in captured) * 1000
        cpu = []
        backend = backend_cpu_ms(connection)
        backend_before = backend() if backend else None
        kernel_before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        collector.reset()
        for _ in range(args.requests):
            started = time.process_time()
            call(method, path, body, status)
            cpu.append((time.process_time() - started) * 1000)
        kernel_ms = (resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel_before) * 1000 / args.requests
        backend_after = backend_cpu_ms(connection)
        pg_cpu = "-"  # the connection was not kept (or PostgreSQL runs elsewhere)
        if backend_before and backend_after and backend_after()[1] == backend_before[1]:
            pg_cpu = f"{(backend_after()[0] - backend_before[0]) / args.requests:.2f}"
        print(
            f"{name:<12} {statistics.median(cpu):>10.2f} {statistics.fmean(cpu):>11.2f} {kernel_ms:>9.2f} "
            f"{len(captured):>8} "
            f"{query_ms:>9.2f} {pg_cpu:>9} {collector.total * 1000 / args.requests:>9.3f} "
            f"{collector.longest * 1000:>9.1f}  {len(content)}"
        )
        if args.profile == name:
            for query in captured:
                print("   ", query["time"], query["sql"][: None if args.explain else 300])
                if args.explain and query["sql"].startswith("SELECT"):
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                        print("\n".join("      " + row[0] for row in cursor.fetchall()))
            profiler = cProfile.Profile(time.process_time)  # CPU, as the table: not the waits for PostgreSQL
            profiler.enable()
            for _ in range(args.requests):
                call(method, path, body, status)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    if args.instructions:
        child = ["--var-dir", var_dir, "--seeded", json.dumps(seeded)]
        counted = count_all(Path(__file__), list(scenarios(seeded)), args.instructions, child)
        print(f"\ninstructions per request (callgrind, {args.instructions} requests each; PostgreSQL's not included)")
        for name, instructions in counted.items():
            print(f"{name:<12} {instructions / 1e6:>10.3f} M")


def caller(seeded: dict) -> Callable[[str, str, dict | None, int], bytes]:
    """``call(method, path, body, status) -> content`` through the server's entry, checking the status."""
    import jobbergate.wsgi  # settles the heap as the server does

    serve = served_by(jobbergate.wsgi.application, token=seeded["token"])

    def call(method, path, body, status):
        answered, content = serve(method, path, b"" if body is None else json.dumps(body).encode())
        assert answered == status, (path, answered, content[:300])
        return content

    return call


def count_child(args: argparse.Namespace) -> None:
    """Under callgrind (bench/instructions.py): warm up uninstrumented, then count ``args.requests`` requests."""
    start_django("jobbergate-profile-", var_dir=args.var_dir, migrate=False)  # the parent migrated
    seeded = json.loads(args.seeded)
    method, path, body, status = scenarios(seeded)[args.count]
    call = caller(seeded)
    for _ in range(WARM_UP):
        call(method, path, body, status)
    meter = Meter()
    meter.start()
    for _ in range(args.requests):
        call(method, path, body, status)
    meter.dump(args.count)


if __name__ == "__main__":
    main()
