"""API benchmark: seed PostgreSQL, serve as production does (2 workers), load it from wrk on loopback.

Run it through ``bench/run`` (which starts a throw-away PostgreSQL and installs wrk); see docs/benchmarks.md.
Every load run is bounded by ``--duration`` seconds; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from _setup import ROOT, start_django  # first: it puts the repository on sys.path, for testkit

from testkit.server import free_port, serve

JOB_SCRIPTS = 10_000
APPLICATIONS = 1_000
OWNERS = 10


TEMPLATE = b"#!/bin/bash\n#SBATCH --job-name={{ name }}\necho {{ message }}\n"


def seed(
    *,
    owners: int = OWNERS,
    job_scripts: int = JOB_SCRIPTS,
    applications: int = APPLICATIONS,
    template: bytes = TEMPLATE,
) -> dict:
    """Seed applications and job scripts with files (bulk inserts; bytes written through the storage API), owned in
    turn by ``owners`` users; a token of the first user, their newest job script and the last application."""
    from django.contrib.auth import get_user_model

    from accounts.tokens import issue_api_token
    from applications.models import JobScriptTemplate, TemplateFile
    from jobbergate import files
    from jobbergate.choices import USER_PERMISSIONS, FileType
    from jobscripts.models import JobScript, JobScriptFile

    people = [f"user{n}@example.com" for n in range(owners)]
    template_key = files.store_content("bench", template)
    script_key = files.store_content("bench", b"#!/bin/bash\n#SBATCH --job-name=bench\necho hello\n" * 20)
    support_key = files.store_content("bench", b"42\n" * 100)

    templates = JobScriptTemplate.objects.bulk_create(
        JobScriptTemplate(
            name=f"application {n}",
            identifier=f"app-{n}",
            description=f"benchmark application {n}",
            owner_email=people[n % owners],
            template_vars={"name": "bench", "message": "hello"},
        )
        for n in range(applications)
    )
    TemplateFile.objects.bulk_create(
        TemplateFile(parent=t, filename="job.sh.j2", file_type=FileType.ENTRYPOINT, storage_key=template_key, size=60)
        for t in templates
    )
    scripts = JobScript.objects.bulk_create(
        JobScript(
            name=f"job script {n}",
            description=f"benchmark job script {n}",
            owner_email=people[n % owners],
            parent_template=templates[n % applications],
        )
        for n in range(job_scripts)
    )
    JobScriptFile.objects.bulk_create(
        [
            JobScriptFile(parent=s, filename="job.sh", file_type=FileType.ENTRYPOINT, storage_key=script_key, size=900)
            for s in scripts
        ]
        + [
            JobScriptFile(parent=s, filename="input.txt", file_type=FileType.SUPPORT, storage_key=support_key, size=300)
            for s in scripts
        ]
    )
    user = get_user_model().objects.create(username=people[0], email=people[0])
    token = issue_api_token(user=user, permissions=USER_PERMISSIONS, name="benchmark").token
    own_script = JobScript.objects.filter(owner_email=people[0]).order_by("-id").first()
    return {"token": token, "job_script_id": own_script.pk, "template_id": templates[-1].pk}


def count_queries(token: str, job_script_id: int) -> dict[str, int]:
    """Queries per request of each scenario, measured in-process against the same database."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    counts = {}
    for name, call in scenarios_in_process(client, job_script_id).items():
        with CaptureQueriesContext(connection) as queries:
            response = call()
        assert response.status_code in (200, 201), (name, response.status_code, response.content[:200])
        counts[name] = len(queries)
    return counts


def scenarios_in_process(client, job_script_id):
    return {
        "list (page of 50)": lambda: client.get("/jobbergate/job-scripts?size=50"),
        "get one": lambda: client.get(f"/jobbergate/job-scripts/{job_script_id}"),
        "create": lambda: client.post("/jobbergate/job-scripts", {"name": "bench", "description": "x"}, format="json"),
        "file download": lambda: client.get(f"/jobbergate/job-scripts/{job_script_id}/upload/job.sh"),
    }


WRK_POST = """
wrk.method = "POST"
wrk.body = '{"name": "bench create", "description": "made by wrk"}'
wrk.headers["Content-Type"] = "application/json"
"""


def run_wrk(url: str, token: str, duration: int, connections: int, script: str | None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Authorization: Bearer {token}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script or "")
    command += ["-s", lua.name, url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    os.unlink(lua.name)
    return parse_wrk(output)


def _milliseconds(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _milliseconds(percentiles["50"]),
        "p99_ms": _milliseconds(percentiles["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per load run (bounded).")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="Runs per scenario; the median is reported.")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("DATABASE_URL must point at PostgreSQL (bench/run starts one)", file=sys.stderr)
        return 2

    start_django("jobbergate-bench-")
    started = time.monotonic()
    seeded = seed()
    print(f"seeded {APPLICATIONS} applications and {JOB_SCRIPTS} job scripts in {time.monotonic() - started:.1f}s")
    queries = count_queries(seeded["token"], seeded["job_script_id"])

    results = {}
    serving = serve(
        bind=f"127.0.0.1:{free_port()}",
        cwd=ROOT,
        environment={**os.environ, "JOBBERGATE_LOG_LEVEL": "WARNING"},
        log=None,
        arguments=("--workers", str(args.workers), "--log-level", "warning"),
    )
    with serving as base:
        scenarios = {
            "list (page of 50)": (f"{base}/job-scripts?size=50", None),
            "get one": (f"{base}/job-scripts/{seeded['job_script_id']}", None),
            "create": (f"{base}/job-scripts", WRK_POST),
            "file download": (f"{base}/job-scripts/{seeded['job_script_id']}/upload/job.sh", None),
        }
        for name, (url, script) in scenarios.items():
            run_wrk(url, seeded["token"], 2, args.connections, script)  # warm-up
            runs = [run_wrk(url, seeded["token"], args.duration, args.connections, script) for _ in range(args.repeat)]
            results[name] = {
                "rps": statistics.median(r["rps"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "rps_spread": [round(r["rps"]) for r in runs],
                "errors": sum(r["errors"] for r in runs),
                "queries": queries[name],
            }

    print(f"\n| scenario | requests/s (median of {args.repeat}) | runs | p50 ms | p99 ms | queries/request | non-2xx |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['rps']:.0f} | {r['rps_spread']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['queries']} | {r['errors']} |"
        )
    print("\n" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
