"""``python -m jobbergate.serve``, the production server: its settings and how a real granian serves with them.

The served tests start the real server on loopback (as tests/test_neighbour.py and tests/test_readme.py do) on the
health check, which needs no database, so they run the same on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobbergate.serve import arguments
from testkit.server import free_port, outside_environment, serve

ROOT = Path(__file__).resolve().parents[2]


def run_serve(*argv: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobbergate.serve", *argv],
        cwd=ROOT,
        env=outside_environment(**environment),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_come_from_the_environment_and_options_win(monkeypatch):
    monkeypatch.setenv("JOBBERGATE_WORKERS", "3")
    monkeypatch.setenv("JOBBERGATE_THREADS", "5")
    monkeypatch.setenv("JOBBERGATE_KEEPALIVE", "7")
    monkeypatch.setenv("JOBBERGATE_BIND", "127.0.0.1:9001")
    read = arguments([])
    assert (read.host, read.port, read.workers, read.threads, read.keepalive) == ("127.0.0.1", 9001, 3, 5, 7)
    read = arguments(["--workers", "1", "--threads", "2", "--bind", "[::1]:8080"])
    assert (read.host, read.port, read.workers, read.threads) == ("::1", 8080, 1, 2)


def test_defaults(monkeypatch):
    for name in ("JOBBERGATE_WORKERS", "JOBBERGATE_THREADS", "JOBBERGATE_KEEPALIVE", "JOBBERGATE_BIND"):
        monkeypatch.delenv(name, raising=False)
    read = arguments([])
    assert (read.host, read.port, read.threads, read.keepalive) == ("127.0.0.1", 8000, 2, 5)
    assert read.workers >= 2


@pytest.mark.parametrize(
    ("argv", "environment", "said"),
    [
        ((), {"JOBBERGATE_THREADS": "many"}, "JOBBERGATE_THREADS must be an integer"),
        ((), {"JOBBERGATE_WORKERS": "0"}, "JOBBERGATE_WORKERS must be at least 1"),
        (("--bind", "8000"), {}, "--bind must be HOST:PORT"),
        (("--bind", "127.0.0.1:99999"), {}, "--bind must be HOST:PORT"),
        (("--threads", "0"), {}, "--threads must be at least 1"),
    ],
)
def test_a_bad_setting_stops_it_with_one_clear_line(argv, environment, said):
    result = run_serve(*argv, **environment)
    assert result.returncode != 0
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def request_on(connection: socket.socket) -> bytes:
    connection.sendall(b"GET /jobbergate/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return connection.recv(4096)


def test_it_keeps_a_connection_for_several_requests_and_closes_it_once_idle(tmp_path):
    """Keep-alive is what the CLI, the agent and a proxy rely on; an idle connection is still let go after
    ``--keepalive`` seconds, so idle clients cannot pile up."""
    bind = f"127.0.0.1:{free_port()}"
    environment = outside_environment(JOBBERGATE_VAR_DIR=str(tmp_path / "var"), HOME=str(tmp_path))
    arguments_ = ("--workers", "1", "--keepalive", "1", "--log-level", "error")
    with serve(bind=bind, cwd=ROOT, environment=environment, log=tmp_path / "server.log", arguments=arguments_):
        host, port = bind.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            assert request_on(connection).startswith(b"HTTP/1.1 204")
            assert request_on(connection).startswith(b"HTTP/1.1 204")  # the same connection, kept
            started = time.monotonic()
            assert connection.recv(4096) == b""  # closed by the server, not by the 10 s timeout
            assert time.monotonic() - started < 5


def test_a_whole_answer_and_its_head_are_served_as_http_wants(tmp_path):
    """A response that is not streamed goes to granian as one body (jobbergate.wsgi): a GET gets all of it, a HEAD
    its length and no body, and the kept connection goes on serving after either."""
    import requests

    bind = f"127.0.0.1:{free_port()}"
    environment = outside_environment(JOBBERGATE_VAR_DIR=str(tmp_path / "var"), HOME=str(tmp_path))
    arguments_ = ("--workers", "1", "--log-level", "error")
    url = f"http://{bind}/jobbergate/redoc.standalone.js"  # a large answer that needs no database
    with serve(bind=bind, cwd=ROOT, environment=environment, log=tmp_path / "server.log", arguments=arguments_):
        with requests.Session() as session:
            got = session.get(url, timeout=30)
            head = session.head(url, timeout=30)
            again = session.get(url, timeout=30)
    assert got.status_code == head.status_code == again.status_code == 200
    assert len(got.content) > 100_000 and again.content == got.content
    assert head.content == b"" and int(head.headers["Content-Length"]) == len(got.content)
