"""WSGI entry point, served by granian in production (``python -m jobbergate.serve``, which scripts/serve runs)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobbergate.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402

CHUNK = 64 * 1024


def application(environ, start_response):
    """Django's answer, given to the server only once the request's body has been read to its end.

    An answer made before the body was read (a 429 from the fairness slot, a 405, a 404 for an upload) otherwise
    reached the server while the client was still sending; the server then closed the connection with the rest of
    the body unread, and the reset lost the answer: under the neighbour test's load, bob's uploads ended in
    ``RemoteDisconnected`` instead of their 4xx, with gunicorn and with granian alike, and the CLI would print a
    connection error instead of the refusal. What is left is read and dropped, up to twice the largest body Django
    accepts; past that the connection is closed, as it should be."""
    result = django_application(environ, start_response)
    stream = environ.get("wsgi.input")
    if stream is not None:
        left = 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
    return result


# Said once per server process, where it matters (not for every manage.py command): what to run when the static
# files were never collected.
from django.contrib.staticfiles.storage import staticfiles_storage  # noqa: E402

getattr(staticfiles_storage, "warn_if_not_collected", lambda: None)()
