"""The portal's pages in-process (Django's test client: session, CSRF middleware, templates, the database): the
form of an application, its live preview, and the history page of 50 submissions out of ``--submissions``.

    ./bench/run-portal [--seconds 5] [--submissions 10000]

Each page is asked for ``--seconds`` (bounded), after one warm-up; it prints p50, p90 and p99 in milliseconds and
the database queries one request makes. The preview renders in the same worker pool (and compiled-template cache)
as the API's renders.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import start_django


def timings(call, seconds: float) -> list[float]:
    call()  # warm-up
    spent: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        call()
        spent.append((time.perf_counter() - begin) * 1000)
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--submissions", type=int, default=10_000)
    args = parser.parse_args()

    start_django("jobbergate-portal-bench-")
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from submissions.models import ClusterStatus, JobSubmission
    from testkit.factories import make_example_application, make_job_script

    application = make_example_application("gpu-training")
    ClusterStatus.objects.create(client_id="cluster-a", interval=60)
    email = "alice@example.com"
    job_script = make_job_script(email)
    JobSubmission.objects.bulk_create(
        JobSubmission(name=f"run {n}", owner_email=email, job_script=job_script, client_id="cluster-a")
        for n in range(args.submissions)
    )
    user = get_user_model().objects.create_user(email, email)
    browser = Client(HTTP_HOST="127.0.0.1")  # a host settings.ALLOWED_HOSTS names
    browser.force_login(user)
    answers = {"gpus": "2", "epochs": "10", "dataset": "/data", "use_scratch": "false", "name": "x"}

    def form():
        response = browser.get(f"/applications/{application.identifier}/")
        assert response.status_code == 200, (response.status_code, response.content[:500])

    def preview():
        response = browser.post(f"/applications/{application.identifier}/preview", answers)
        assert response.status_code == 200 and b"--gres=gpu:2" in response.content

    def history():
        assert browser.get("/submissions/").status_code == 200

    print(f"database: {connection.vendor}; {args.submissions:,} submissions; {args.seconds:g} s per page")
    print("| page | requests | p50 ms | p90 ms | p99 ms | queries |")
    print("|---|---|---|---|---|---|")
    for name, call in (("form", form), ("preview", preview), ("history (50 rows)", history)):
        queries: list[str] = []

        def counted(execute, sql, *rest, queries=queries):
            queries.append(sql)
            return execute(sql, *rest)

        with connection.execute_wrapper(counted):
            call()
        spent = timings(call, args.seconds)
        cuts = statistics.quantiles(spent, n=100)
        print(
            f"| {name} | {len(spent)} | {statistics.median(spent):.1f} | {cuts[89]:.1f} | {cuts[98]:.1f} "
            f"| {len(queries)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
