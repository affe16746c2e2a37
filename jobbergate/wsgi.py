"""WSGI entry point, served by gunicorn in production (see scripts/serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobbergate.settings")
application = get_wsgi_application()
