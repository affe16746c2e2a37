"""How the server talks to PostgreSQL beyond Django's defaults.

Timestamps: Django (5.x with psycopg 3) reads every ``timestamptz`` through a loader of its own, a subclass of
psycopg's pure-Python one, only to attach its time zone; that parse was an eighth of a list request's time (200
timestamps a page, bench/run-profile). With ``USE_TZ`` and the connection in UTC, which Django sets, psycopg's C loader
(``psycopg[binary]``) reads the same instants, aware and in UTC, so it is used instead. Anything else (another zone,
psycopg without its C part) keeps Django's loader.

A list's rows on their way to the wire: a page of 50 job scripts is 50 rows of 20 columns, four timestamps and a JSON
document each; reading them into Python values only to write them back as JSON (timestamps parsed and formatted, JSON
parsed and encoded again, a dict per row) was a third of the list's Python time (py-spy in the harness). On
PostgreSQL the database writes each row's JSON instead (``JSONRow``, ``WireTimestamp``, ``null_unless``: the
expressions ``jobbergate.api.serializers.FastRepresentationMixin.row_json`` builds from a serializer's plan) and the
answer embeds that text as it is (``jobbergate.api.renderers.WrittenJSON``). PostgreSQL's JSON differs from
orjson's only in spelling (the spaces of a stored JSON document, a number such as 1e-07 written 0.0000001 as
PostgreSQL keeps it); the values are the same (jobbergate/tests/test_wire_json.py compares them row by row with
``represent_values`` and DRF).

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

import select

from django.conf import settings
from django.db import models
from django.db.models import Case, Expression, Func, Value, When
from django.db.models.functions import Cast


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


def writes_json(connection) -> bool:
    """Whether the database writes the JSON of a list's rows itself (PostgreSQL): see the module's docstring."""
    return connection.vendor == "postgresql"


class JSONRow(Func):
    """A JSON object of these names and values, in this order, written by PostgreSQL: ``row_to_json`` of a row made
    of the values named as columns (a fifth cheaper for the database than ``json_build_object``, whose every
    argument's type is looked up again for every row, and without its spaces). Names are identifiers. Read it with
    ``as_text``: psycopg would parse a ``json`` column."""

    output_field = models.JSONField()

    def __init__(self, pairs: list[tuple[str, Expression]]) -> None:
        self.names = [name for name, _ in pairs]
        if not all(self.takes_name(name) for name in self.names):
            raise ValueError(f"JSON names must be identifiers PostgreSQL keeps whole: {self.names}")
        super().__init__(*(value for _, value in pairs))

    @staticmethod
    def takes_name(name: str) -> bool:
        """Whether ``name`` can name a value: an identifier PostgreSQL keeps whole (it cuts a longer one to 63 bytes,
        which would change the JSON's key)."""
        return name.isidentifier() and len(name.encode()) <= 63

    def as_sql(self, compiler, connection, **extra_context):
        columns, params = [], []
        for name, argument in zip(self.names, self.get_source_expressions(), strict=True):
            sql, argument_params = compiler.compile(argument)
            columns.append(f"{sql} AS {connection.ops.quote_name(name)}")
            params.extend(argument_params)
        return f"(SELECT row_to_json(wire_row) FROM (SELECT {', '.join(columns)}) AS wire_row)", params


def as_text(expression: Expression) -> Cast:
    """A JSON expression read as its text, to go into an answer as it is."""
    return Cast(expression, models.TextField())


class WireTimestamp(Func):
    """A timestamp as the API writes it (``jobbergate.api.serializers._iso``, DRF's form): ISO 8601 in UTC with
    ``Z``, and its microseconds in six digits unless they are zero, written by PostgreSQL."""

    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )
    output_field = models.TextField()


def null_unless(key: str, value: Expression) -> Case:
    """``value``, or null where the foreign key ``key`` names no row (a nested object shown as null)."""
    return Case(When(**{f"{key}__isnull": True}, then=Value(None)), default=value, output_field=value.output_field)


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
