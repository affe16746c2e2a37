"""Django's PostgreSQL backend (settings ``DATABASES``' ENGINE for a ``postgres://`` DATABASE_URL), whose health
check asks a busy connection's socket before it asks the server (``jobbergate.database``, "Health checks")."""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

from jobbergate.database import QUIET_CHECK_SECONDS, quiet_and_idle


class DatabaseWrapper(base.DatabaseWrapper):
    used_at: float | None = None  # when the last request that used this connection ended (time.monotonic)

    def close_if_unusable_or_obsolete(self):
        # Django calls this as a request starts and as it ends; only a request that used the connection leaves
        # its health check done (reset below, by Django), so the time is that of the end of such a request.
        if self.connection is not None and self.health_check_done:
            self.used_at = time.monotonic()
        super().close_if_unusable_or_obsolete()

    def close_if_health_check_failed(self):
        """Django's check before a request's first query, without its round trip for a connection that a request
        used moments ago and that has heard nothing from the server since; any other goes to Django's check."""
        if (
            self.connection is not None
            and not self.health_check_done
            and self.used_at is not None
            and time.monotonic() - self.used_at < QUIET_CHECK_SECONDS
            and quiet_and_idle(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
