"""The production server: ``python -m jobbergate.serve`` serves ``jobbergate.wsgi:application`` with granian.

One home for how Jobbergate is served: ``scripts/serve`` ends with it, the test suite's and the benchmarks' servers
start it (``testkit.server.serve``), and the side-by-side harness is pointed at it, so production and the
measurements agree.

Why granian (docs/benchmarks.md, "The API beside upstream"): its HTTP side (parsing, keep-alive, writing the answer)
is Rust and holds no Python thread, so a kept-alive connection costs nothing while idle and only the request's own
work takes the interpreter. Measured beside the upstream API on 2 cores it served 16-23% more requests per second
than gunicorn's threaded workers with the same code, 1.46x on the health check, and its runs were steady where
gunicorn's split into two levels (a kept-alive connection stays with the process it first reached). It hands the
application the request body as it arrives (a 2 GB upload is not held in memory; ``jobbergate.wsgi`` bounds what
it reads), and it closes a connection whose next request's headers do not arrive in time.

Each setting comes from the environment, and a command-line option wins over it:

- ``JOBBERGATE_WORKERS`` processes (default: one per core, at least 2);
- ``JOBBERGATE_THREADS`` Python threads each (default 2): while one waits on PostgreSQL or a render worker the other
  runs; more threads share the same interpreter lock and only lengthen the tail (measured). Every thread may hold a
  PostgreSQL connection for ``JOBBERGATE_DB_CONN_MAX_AGE`` seconds: keep workers x threads under the database's
  ``max_connections``;
- ``JOBBERGATE_KEEPALIVE`` seconds an idle connection is kept, and the longest a client may take to send a request's
  headers (default 5);
- ``JOBBERGATE_BIND`` the address (default ``127.0.0.1:8000``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

from jobbergate.env import env_int, env_str, parse_int

APPLICATION = "jobbergate.wsgi:application"
DEFAULT_BIND = "127.0.0.1:8000"


def _default_workers() -> int:
    return max(2, os.cpu_count() or 1)


def _at_least_one(option: str):
    """An argparse type: the option's value by the rule of its environment variable (``parse_int``)."""

    def parse(raw: str) -> int:
        try:
            return parse_int(raw, option, minimum=1)
        except ImproperlyConfigured as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, its defaults read from the environment (a bad value stops here, naming the variable)."""
    parser = argparse.ArgumentParser(prog="python -m jobbergate.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default=env_str("JOBBERGATE_BIND", DEFAULT_BIND), help="HOST:PORT to listen on.")
    parser.add_argument(
        "--workers",
        type=_at_least_one("--workers"),
        default=env_int("JOBBERGATE_WORKERS", _default_workers(), minimum=1),
    )
    parser.add_argument(
        "--threads", type=_at_least_one("--threads"), default=env_int("JOBBERGATE_THREADS", 2, minimum=1)
    )
    parser.add_argument(
        "--keepalive", type=_at_least_one("--keepalive"), default=env_int("JOBBERGATE_KEEPALIVE", 5, minimum=1)
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error", "critical"))
    parser.add_argument("--access-log", action="store_true", help="Print a line per request.")
    parsed = parser.parse_args(argv)
    host, colon, port = parsed.bind.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        parser.error(f"--bind must be HOST:PORT, got {parsed.bind!r}")
    parsed.host, parsed.port = host.strip("[]"), int(port)
    return parsed


def server(options: argparse.Namespace):
    """The granian server these options describe (not started)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return Granian(
        APPLICATION,
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=options.workers,
        blocking_threads=options.threads,
        http1_settings=HTTP1Settings(header_read_timeout=options.keepalive * 1000),
        log_level=options.log_level,
        log_access=options.access_log,
        # A worker that dies is replaced, and one that will not stop is ended after 30 s (gunicorn's defaults).
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )


def main(argv: Sequence[str] | None = None) -> None:
    try:
        options = arguments(argv)
    except ImproperlyConfigured as error:  # a bad JOBBERGATE_* value: one line, not a traceback
        sys.exit(f"python -m jobbergate.serve: {error}")
    print(
        f"serving on http://{options.bind} (admin at /admin/, API at /jobbergate, docs at /jobbergate/docs)",
        file=sys.stderr,
        flush=True,
    )
    server(options).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
