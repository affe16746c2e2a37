"""How the server talks to PostgreSQL beyond Django's defaults.

Timestamps: Django (5.x with psycopg 3) reads every ``timestamptz`` through a loader of its own, a subclass of
psycopg's pure-Python one, only to attach its time zone; that parse was an eighth of a list request's time (200
timestamps a page, bench/run-profile). With ``USE_TZ`` and the connection in UTC, which Django sets, psycopg's C loader
(``psycopg[binary]``) reads the same instants, aware and in UTC, so it is used instead. Anything else (another zone,
psycopg without its C part) keeps Django's loader.

Timestamps on their way to the wire: a list of job scripts shows four timestamps a row, and parsing each into a
datetime only to write it back as text (``jobbergate.api.serializers._iso``) was a quarter of the list's Python time
(py-spy in the harness). A read whose timestamps go straight to an answer (``PreparedQuery(..., wire_timestamps=True)``)
registers ``wire_timestamp_loader`` on its cursor: PostgreSQL's text for a UTC timestamp, ``2026-12-06
03:08:14.1234+00``, becomes the API's ``2026-12-06T03:08:14.123400Z`` (DRF's ``isoformat`` in UTC, with ``Z``) by
moving characters; any other text (another DateStyle or zone, a year past 9999, infinity) is parsed as before and
the answer's serializer writes the datetime.

Health checks: with ``CONN_HEALTH_CHECKS`` Django checks a kept connection before a request's first query with a
``SELECT 1``, a round trip of its own: a tenth of the server's samples in a render (py-spy, side-by-side harness).
A connection that is idle between requests hears nothing from the server unless the server is leaving (a restart
or an administrator's ``pg_terminate_backend`` sends a FATAL error, then closes), so the backend
(``jobbergate.postgresql``) asks the socket instead (``quiet_and_idle``) when a request used the connection less
than ``QUIET_CHECK_SECONDS`` ago, as on a busy server, and keeps Django's ``SELECT 1`` for any other: one idle for
longer (a database host that rebooted, an address that moved to another server, a firewall that forgot the
connection: these answer the next packet with a reset, which only a round trip finds, and Django then connects
anew), one that has something to read, one inside a transaction, a closed or broken one. What this gives up: a
server lost within those seconds without closing its sockets fails the connection's next request (Django drops the
connection after it) where the ``SELECT 1`` would have connected anew.
"""

from __future__ import annotations

import re
import select

from django.conf import settings


def use_fast_timestamp_loader(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: read ``timestamptz`` with psycopg's C loader when that changes nothing."""
    loader = _utc_loader(connection)
    if loader is not None:
        connection.connection.adapters.register_loader("timestamptz", loader)


def _utc_loader(connection):
    """``fast_timestamp_loader`` for a connection that reads its timestamps in UTC (PostgreSQL, ``USE_TZ``, the
    connection's zone UTC, as Django sets it), else None: the one case where the C loader changes nothing."""
    if connection.vendor != "postgresql" or not settings.USE_TZ or connection.timezone_name != "UTC":
        return None
    return fast_timestamp_loader(connection.timezone)


_loaders: dict = {}


def fast_timestamp_loader(timezone):
    """A ``timestamptz`` loader that parses with psycopg's C loader and gives the value Django's own loader gives
    (aware, in Django's ``timezone`` object), or None without psycopg's C part. Django compares the loader's
    ``timezone`` with its own before each cursor and registers its loader again when they differ."""
    if timezone not in _loaders:
        try:
            import psycopg
        except ImportError:  # psycopg2: Django's own loading stays
            return None
        from psycopg.adapt import Loader
        from psycopg.pq import Format
        from psycopg.types.datetime import TimestamptzLoader as PythonLoader

        oid = psycopg.postgres.types["timestamptz"].oid
        parser = psycopg.adapters.get_loader(oid, Format.TEXT)
        if parser is None or issubclass(parser, PythonLoader):
            _loaders[timezone] = None
        else:

            class FastTimestamptzLoader(Loader):
                def __init__(self, oid, context=None):
                    super().__init__(oid, context)
                    self._parse = parser(oid, context).load

                def load(self, data):
                    return self._parse(data).replace(tzinfo=self.timezone)

            FastTimestamptzLoader.timezone = timezone
            _loaders[timezone] = FastTimestamptzLoader
    return _loaders[timezone]


# PostgreSQL's ISO output of a timestamptz in UTC: date, time, an optional fraction (trailing zeros dropped), "+00".
_ISO_UTC = re.compile(rb"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00")
_wire_loaders: dict = {}


def wire_timestamp_loader(connection):
    """A ``timestamptz`` loader giving the API's text for the timestamps PostgreSQL writes in ISO form in UTC, and
    the datetime of the connection's own loader for any other; None where the connection's timestamps are not read
    in UTC (then there is nothing to gain, and nothing is changed)."""
    parser = _utc_loader(connection)
    if parser is None:
        return None
    if parser not in _wire_loaders:

        class WireTimestamptzLoader(parser):
            def load(self, data):
                found = _ISO_UTC.fullmatch(data)
                if found is None:
                    return super().load(data)
                day, clock, fraction = found.groups()
                if fraction is None:
                    return f"{day.decode()}T{clock.decode()}Z"
                return f"{day.decode()}T{clock.decode()}.{fraction.decode():0<6}Z"

        _wire_loaders[parser] = WireTimestamptzLoader
    return _wire_loaders[parser]


QUIET_CHECK_SECONDS = 2.0  # how recently a request must have used a connection for its socket to vouch for it


def quiet_and_idle(connection) -> bool:
    """Whether a psycopg connection is open, outside any transaction and has heard nothing from the server since its
    last answer (nothing to read on its socket): then it is as usable as a ``SELECT 1`` would find it, without the
    round trip. False means "ask the server"."""
    if connection.closed or connection.broken:
        return False
    from psycopg import pq

    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)  # readable, hung up or in error: something happened, let the server say what
