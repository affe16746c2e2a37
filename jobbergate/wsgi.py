"""WSGI entry point, served by granian in production (``python -m jobbergate.serve``, which scripts/serve runs)."""

import gc
import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobbergate.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402

CHUNK = 64 * 1024
logger = logging.getLogger(__name__)


def application(environ, start_response):
    """Django's answer, given to the server only once the request's body has been read to its end.

    An answer made before the body was read (a 429 from the fairness slot, a 405, a 404 for an upload) otherwise
    reached the server while the client was still sending; the server then closed the connection with the rest of
    the body unread, and the reset lost the answer: under the neighbour test's load, bob's uploads ended in
    ``RemoteDisconnected`` instead of their 4xx, with gunicorn and with granian alike, and the CLI would print a
    connection error instead of the refusal. What is left is read and dropped, up to twice the largest body Django
    accepts; past that the connection is closed, as it should be.

    An answer that is not streamed goes to the server as a list of its one body: granian writes a list with one
    call, where it iterates any other answer through Python (a sixth of a job script's read in the server's Python
    time, py-spy in the harness). The answer is closed here, just before it is sent rather than just after
    (request_finished, the response's closers); a failure to close is logged and the answer still goes out, as it
    did when the server closed it."""
    result = django_application(environ, start_response)
    stream = environ.get("wsgi.input")
    if stream is not None:
        left = 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
    if isinstance(result, HttpResponse):  # not streamed: its body is one piece of bytes already
        body = result.content
        try:
            result.close()  # request_finished and the response's closers, which the server would run after sending
        except Exception:
            # The answer stands (its work may be committed): what the server would have logged after sending it.
            logger.exception(
                "Closing the response to %s %r failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
        return [body]
    return result


# Said once per server process, where it matters (not for every manage.py command): what to run when the static
# files were never collected.
from django.contrib.staticfiles.storage import staticfiles_storage  # noqa: E402

getattr(staticfiles_storage, "warn_if_not_collected", lambda: None)()


def settle_heap() -> None:
    """Load what the first requests would load (the URL configuration, and through it every view, serializer and
    model), then move every object alive now out of the garbage collector's sight (``gc.freeze``).

    Those objects live as long as the process, yet each full collection scanned them all: on 2 cores a pause of
    75-86 ms, every few hundred requests, in whichever requests the process was serving (bench/run-profile, "GC max
    ms"); frozen, a full collection scans only what requests leave behind (10-19 ms). What is garbage now is
    collected first, so nothing unreachable is kept for the life of the process."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 -- imports every view module
    gc.collect()
    gc.freeze()


settle_heap()
