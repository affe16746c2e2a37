"""Whole-process timings of the command: ``jobbergate --help`` and ``jobbergate applications list --json``
against a local server, ours beside the upstream jobbergate-cli 5.12 (``.venv-upstream``), in the same run.

    ./bench/run-cli [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT  # first: it puts the repository on sys.path, for testkit

from testkit.server import free_port, serve

OURS = ROOT / ".venv/bin/jobbergate"
UPSTREAM = ROOT / ".venv-upstream/bin/jobbergate"


def timed(command: list[str], environment: dict, runs: int) -> list[float]:
    subprocess.run(command, env=environment, capture_output=True, check=True, timeout=120)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=environment, capture_output=True, check=True, timeout=120)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    var_dir = tempfile.mkdtemp(prefix="jobbergate-cli-bench-")
    bind = f"127.0.0.1:{free_port()}"
    server_env = {
        **os.environ,
        "JOBBERGATE_VAR_DIR": var_dir,
        "JOBBERGATE_LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{var_dir}/db.sqlite3",
    }
    python = str(ROOT / ".venv/bin/python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=server_env, check=True)
    subprocess.run(
        [python, "manage.py", "bootstrap_local_admin", "--credentials-file", f"{var_dir}/admin.json"],
        cwd=ROOT,
        env=server_env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [python, "manage.py", "import_applications", "examples", "--owner", "admin@jobbergate.local"],
        cwd=ROOT,
        env=server_env,
        check=True,
        capture_output=True,
    )
    token = json.loads(Path(f"{var_dir}/admin.json").read_text())["api_token"]
    serving = serve(
        bind=bind, cwd=ROOT, environment=server_env, log=None, arguments=("--workers", "2", "--log-level", "warning")
    )
    with serving:
        cache = Path(var_dir) / "cache"
        (cache / "token").mkdir(parents=True)
        (cache / "token" / "access.token").write_text(token)
        client_env = {
            "PATH": os.environ["PATH"],
            "HOME": var_dir,
            "BASE_API_URL": f"http://{bind}",
            "JOBBERGATE_TOKEN": token,
            "JOBBERGATE_CACHE_DIR": str(cache),
            "JOBBERGATE_CONFIG": "/none",
            "OIDC_DOMAIN": "127.0.0.1:9/none",
            "COLUMNS": "200",
        }
        rows = []
        for label, program in (("ours", OURS), ("upstream 5.12", UPSTREAM)):
            if not program.exists():
                print(f"{program} is missing; scripts/test installs it", file=sys.stderr)
                continue
            helps = timed([str(program), "--help"], client_env, args.runs)
            lists = timed(
                [str(program), "--raw" if label != "ours" else "--json", "applications", "list"], client_env, args.runs
            )
            rows.append((label, statistics.median(helps), max(helps), statistics.median(lists), max(lists)))
    print("\n| command | --help median ms | --help max ms | applications list median ms | list max ms |")
    print("|---|---|---|---|---|")
    for label, help_median, help_max, list_median, list_max in rows:
        print(f"| {label} | {help_median:.0f} | {help_max:.0f} | {list_median:.0f} | {list_max:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
