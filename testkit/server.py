"""Server processes for the tests and the benchmarks: a free port on loopback, the production server
(``python -m jobbergate.serve``, granian) started, waited for and always stopped, and any child process stopped
politely, then firmly."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (scripts/lib/common.sh has the shell's twin)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, *, seconds: float = 20) -> None:
    """End ``process``: SIGTERM, then SIGKILL if it is still running after ``seconds``; return once it is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def outside_environment(**extra: str) -> dict[str, str]:
    """This process's environment without what the test run set for itself (JOBBERGATE_*, DATABASE_*, DJANGO_*,
    PYTHON*), as a shell on a fresh machine would have it; plus ``extra``."""
    import os

    prefixes = ("JOBBERGATE_", "DATABASE_", "DJANGO_", "PYTHON")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)} | extra


def serving_the_test_database(data_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process on this test run's database (PostgreSQL: the test database, which a
    ``transaction=True`` test shares with other processes), with its data folder, HOME and TMPDIR in
    ``data_folder``, and the test's file storage and token signing key, so the files its rows name are there and
    the personas' tokens are good."""
    import os

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    (data_folder / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": url,
        "JOBBERGATE_VAR_DIR": str(data_folder),
        "JOBBERGATE_TOKEN_SIGNING_KEY_FILE": str(settings.TOKEN_SIGNING_KEY_FILE),
        "JOBBERGATE_FILE_STORAGE_DIR": str(settings.STORAGES["default"]["OPTIONS"]["location"]),
        "JOBBERGATE_LOG_LEVEL": "ERROR",
        "HOME": str(data_folder),
        "TMPDIR": str(data_folder / "tmp"),
        **extra,
    }


@contextlib.contextmanager
def serve(
    *,
    bind: str,
    cwd: Path,
    environment: dict[str, str],
    log: Path | None,
    arguments: Sequence[str] = (),
    seconds: float = 30,
) -> Iterator[str]:
    """Serve ``jobbergate.wsgi`` on ``bind`` as production does (``arguments`` go to ``jobbergate.serve``); yield
    the API's base URL once ``/health`` answers 204 (within ``seconds``); stop the server on the way out, whatever
    happened.

    Its output goes to ``log`` (a file: a pipe nobody reads fills up and stalls the server), or, with ``None``, to
    this process's own stdout and stderr (the benchmarks: the server's warnings show beside their tables).
    """
    output = log.open("wb") if log else None
    process = subprocess.Popen(
        [sys.executable, "-m", "jobbergate.serve", "--bind", bind, *arguments],
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL if log else None,
        stderr=output,
    )
    base = f"http://{bind}/jobbergate"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 204:
                    break
            except requests.RequestException:  # not listening yet, or the workers are still starting
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                said = f": {log.read_text()[-2000:]}" if log else " (its output is above)"
                raise RuntimeError(f"the server did not start{said}")
            time.sleep(0.2)
        yield base
    finally:
        stop_process(process)
        if output:
            output.close()
