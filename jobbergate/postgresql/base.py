"""Django's PostgreSQL backend (settings ``DATABASES``' ENGINE for a ``postgres://`` DATABASE_URL), whose health
check asks the connection's socket before it asks the server (``jobbergate.database.quiet_and_idle``)."""

from __future__ import annotations

from django.db.backends.postgresql import base

from jobbergate.database import quiet_and_idle


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        """Django's check before a request's first query, without a round trip for a quiet idle connection."""
        if self.connection is None or self.pool or not self.health_check_enabled or self.health_check_done:
            return
        if not quiet_and_idle(self.connection) and not self.is_usable():
            self.close()
        self.health_check_done = True
