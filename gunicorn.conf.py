"""How gunicorn serves Jobbergate: read by every gunicorn started from the project folder (``scripts/serve``, the
test suite's and the benchmarks' servers, the side-by-side harness), so production and the measurements agree.

Threads and keep-alive (``gthread``), chosen by measurement on a 2-core machine (docs/benchmarks.md, "The API
beside upstream"): gunicorn's default ``sync`` worker closes the connection after every response, so each request
of a client that keeps its connection open (the CLI, the agent, a proxy in front) pays a new TCP connection, and a
worker waiting on PostgreSQL serves nobody meanwhile. With ``gthread`` a worker keeps idle connections open
without holding a thread for them, and while one thread waits on the database another uses the CPU.

Each setting can be changed in the environment: ``JOBBERGATE_WORKERS`` processes (default: one per core, at least
2), ``JOBBERGATE_THREADS`` threads each (default 4; every thread may hold a PostgreSQL connection for
``JOBBERGATE_DB_CONN_MAX_AGE`` seconds, so workers x threads must stay under the database's ``max_connections``),
``JOBBERGATE_KEEPALIVE`` seconds an idle connection is kept (default 5). Command-line options win over this file.
"""

import os


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


worker_class = "gthread"
workers = _setting("JOBBERGATE_WORKERS", max(2, os.cpu_count() or 1))
threads = _setting("JOBBERGATE_THREADS", 4)
keepalive = _setting("JOBBERGATE_KEEPALIVE", 5)
# A render has its own limit in the render worker; a request still running after this long is stuck.
timeout = 60
graceful_timeout = 30
