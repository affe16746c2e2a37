"""Instructions per request, counted by valgrind's callgrind: the one measure of an API request's cost that does not
move with the machine (bench/profile_api.py --instructions).

CPU time on these shared machines drifts: on 2026-12-07 the same in-process render took 3.3 ms of CPU at 00:17 and
6.8 ms at 00:54, with no change of code and no steal time shown, so an A/B of a change worth a few per cent needs many
interleaved rounds and still may not tell. The number of instructions a request executes is the same from one run to
the next (callgrind counts them in its virtual CPU), whatever else the machine does; it is not time (a cache miss
costs more than an add), but a change that saves instructions on the request's own path saves time.

How: the parent (profile_api.py, which seeded the database) starts a child per scenario, ``python profile_api.py
--count SCENARIO`` under ``valgrind --tool=callgrind --instr-atstart=no``: the child starts Django, warms up with
uninstrumented requests (fast: valgrind runs uninstrumented code at a few times native cost), then switches
instrumentation on, zeroes the counters, serves the counted requests and dumps the counts (callgrind's client
requests, from a tiny C library compiled here with gcc against valgrind's own header). PostgreSQL's work is not in
the count: it runs in its own process (the table's "PG CPU ms" column).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

METER_SOURCE = """
#include <valgrind/callgrind.h>
void jobbergate_meter_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void jobbergate_meter_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""
METER_LIBRARY = "JOBBERGATE_METER_LIBRARY"  # the child's path to the compiled meter
COUNTED_REQUESTS = range(5, 501)  # how many requests a child may count (--instructions)


def missing_tools() -> str | None:
    """What is missing to count instructions here, or None."""
    for tool, package in (("valgrind", "valgrind"), ("gcc", "gcc")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install {package})"
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind's header callgrind.h is missing (Debian's valgrind package has it)"
    return None


def build_meter(folder: Path) -> Path:
    source, library = folder / "meter.c", folder / "meter.so"
    source.write_text(METER_SOURCE)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


class Meter:
    """In the child: the callgrind client requests, as Python calls."""

    def __init__(self):
        self.library = ctypes.CDLL(os.environ[METER_LIBRARY])

    def start(self) -> None:
        self.library.jobbergate_meter_start()

    def dump(self, name: str) -> None:
        self.library.jobbergate_meter_dump(name.encode())


def count(script: Path, scenario: str, requests: int, child_arguments: list[str], library: Path) -> int:
    """Instructions the child spent on ``requests`` requests of ``scenario`` (its dump named after the scenario)."""
    folder = library.parent
    out = folder / f"callgrind.{scenario}"
    environment = {**os.environ, METER_LIBRARY: str(library)}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
        sys.executable,
        str(script),
        "--count",
        scenario,
        "--requests",
        str(requests),
        *child_arguments,
    ]
    limit = 300 + 5 * requests  # start-up under valgrind, then a request at about 50 to 100 times its native cost
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"counting {scenario} took more than {limit} s and was stopped") from None
    if done.returncode != 0:
        raise RuntimeError(f"counting {scenario} failed (valgrind exit {done.returncode}):\n{done.stderr[-2000:]}")
    dumps = sorted(folder.glob(f"callgrind.{scenario}.*"))
    for dump in dumps:
        text = dump.read_text(errors="replace")
        if f"Client Request: {scenario}\n" in text:
            found = re.search(r"^totals: (\d+)", text, re.MULTILINE)
            if found:
                return int(found.group(1))
    raise RuntimeError(
        f"counting {scenario}: no dump of its requests among {[dump.name for dump in dumps]}; valgrind said:\n"
        f"{done.stderr[-2000:]}"
    )


def count_all(script: Path, scenarios: list[str], requests: int, child_arguments: list[str]) -> dict[str, float]:
    """Instructions per request of each scenario (a child each)."""
    problem = missing_tools()
    if problem:
        raise SystemExit(f"--instructions: {problem}")
    with tempfile.TemporaryDirectory(prefix="jobbergate-instructions-") as name:
        library = build_meter(Path(name))
        return {
            scenario: count(script, scenario, requests, child_arguments, library) / requests for scenario in scenarios
        }
