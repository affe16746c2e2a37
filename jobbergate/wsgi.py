"""WSGI entry point, served by gunicorn in production (see scripts/serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobbergate.settings")
application = get_wsgi_application()

# Said once per server process, where it matters (not for every manage.py command): what to run when the static
# files were never collected.
from django.contrib.staticfiles.storage import staticfiles_storage  # noqa: E402

getattr(staticfiles_storage, "warn_if_not_collected", lambda: None)()
