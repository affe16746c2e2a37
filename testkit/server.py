"""The production server process for tests that need it: gunicorn started, waited for, and always stopped."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


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
def gunicorn(
    *, bind: str, cwd: Path, environment: dict[str, str], log: Path, arguments: Sequence[str] = ()
) -> Iterator[str]:
    """Serve ``jobbergate.wsgi`` on ``bind``; yield the API's base URL once ``/health`` answers 204 (within 30 s).

    Its output goes to ``log`` (a file: a pipe nobody reads fills up and stalls the server).
    """
    process = subprocess.Popen(
        [GUNICORN, "jobbergate.wsgi:application", "--bind", bind, *arguments],
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://{bind}/jobbergate"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 204:
                    break
            except requests.RequestException:  # not listening yet, or the workers are still starting
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"gunicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
