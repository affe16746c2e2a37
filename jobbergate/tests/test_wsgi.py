"""The WSGI entry point gives the server its answer only once the request's body has been read to its end (up to a
bound), so that an answer made before the body was read (a 429, a 405) is not lost to the connection's reset.
tests/test_neighbour.py shows the loss itself through a real server; this checks the reading."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.signals import request_finished
from django.http import StreamingHttpResponse
from django.test import RequestFactory

from jobbergate.wsgi import application


def call(method: str, path: str, body: bytes) -> tuple[str, io.BytesIO]:
    request = getattr(RequestFactory(), method.lower())(path, data=body, content_type="application/octet-stream")
    environ = dict(request.environ)
    environ["wsgi.input"] = stream = io.BytesIO(body)
    statuses = []
    list(application(environ, lambda status, headers, *exc: statuses.append(status)))
    return statuses[0], stream


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 100_000, 3_000_000])
def test_a_body_refused_before_it_was_read_is_read_to_its_end(size):
    status, stream = call("POST", "/jobbergate/health", b"x" * size)
    assert status.startswith("405")  # answered without reading the body
    assert stream.tell() == size


@pytest.mark.django_db
def test_what_is_read_is_bounded():
    bound = 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    status, stream = call("PUT", "/jobbergate/health", b"x" * (bound + 5 * 65536))
    assert status.startswith("405")
    assert stream.tell() == bound  # past it the server closes the connection, as it should


@pytest.mark.django_db
def test_a_get_is_answered_as_django_answers_it():
    status, stream = call("GET", "/jobbergate/health", b"")
    assert status.startswith("204")
    assert stream.tell() == 0


def bundle_with(receiver) -> list:
    """What the entry point gives the server for ReDoc's bundle (a large answer, not streamed), with ``receiver``
    listening to request_finished meanwhile."""
    request_finished.connect(receiver, weak=False)
    try:
        environ = {**RequestFactory().get("/jobbergate/redoc.standalone.js").environ, "wsgi.input": io.BytesIO()}
        return application(environ, lambda status, headers, *exc: None)
    finally:
        request_finished.disconnect(receiver)


@pytest.mark.django_db
def test_a_whole_answer_goes_to_the_server_in_one_piece_and_is_closed():
    """A response that is not streamed reaches the server as a list of one body (granian then writes it with one
    call instead of iterating the response), closed as the server would close it: request_finished is sent once."""
    finished = []
    result = bundle_with(lambda sender, **kwargs: finished.append(sender))
    assert type(result) is list and len(result) == 1 and len(result[0]) > 100_000  # ReDoc's bundle, whole
    assert len(finished) == 1


@pytest.mark.django_db
def test_an_answer_whose_closing_fails_still_goes_out_and_the_failure_is_logged(caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("a receiver of request_finished broke")

    result = bundle_with(broken)
    assert type(result) is list and len(result[0]) > 100_000
    assert "Closing the response to GET '/jobbergate/redoc.standalone.js' failed" in caplog.text  # the path quoted
    assert "a receiver of request_finished broke" in caplog.text


def test_a_streamed_answer_stays_a_stream_for_the_server_to_close(monkeypatch):
    import jobbergate.wsgi

    streamed = StreamingHttpResponse(iter([b"one ", b"two"]))
    monkeypatch.setattr(jobbergate.wsgi, "django_application", lambda environ, start_response: streamed)
    environ = {**RequestFactory().get("/anything").environ, "wsgi.input": io.BytesIO()}
    result = application(environ, lambda *args: None)
    assert result is streamed and not streamed.closed
    assert b"".join(result) == b"one two"


def test_a_server_process_starts_with_its_heap_settled(tmp_path):
    """What the process loaded at start (Django, every view through the URL configuration) is frozen out of the
    garbage collector's sight, so a full collection does not scan it again: a server's tail latency
    (jobbergate.wsgi.settle_heap)."""
    script = (
        "import gc, sys; import jobbergate.wsgi; "
        "print(gc.get_freeze_count(), 'jobscripts.views' in sys.modules, 'submissions.views' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin", "JOBBERGATE_VAR_DIR": str(tmp_path), "PYTHONPATH": str(settings.BASE_DIR)},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    frozen, *loaded = result.stdout.split()
    assert int(frozen) > 50_000 and loaded == ["True", "True"]
