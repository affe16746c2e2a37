"""Static files (the admin's, the API docs'): hashed names from ``collectstatic``'s manifest, served by WhiteNoise.

When ``collectstatic`` has not run (a new deployment that skipped it), Django's manifest storage answers every page
that links a static file with a 500 ("Missing staticfiles manifest entry"). Here a missing entry falls back to the
plain name instead, so pages still render (unstyled until the files are collected), and the server says once, at
start, what to run.
"""

from __future__ import annotations

import logging

from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False  # a missing entry gives the plain name, never a 500

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:  # not collected at all: there is no file to hash either
            return name

    def warn_if_not_collected(self) -> None:
        if not self.exists(self.manifest_name):
            logger.warning(
                "Static files are not collected in %s: pages of the admin and the API docs render unstyled. "
                "Run: manage.py collectstatic --noinput (scripts/serve does).",
                self.location,
            )
