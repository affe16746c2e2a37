"""How the server talks to PostgreSQL (jobbergate/database.py): timestamps read with psycopg's C loader are the
values Django's own loader gives; the health check asks the server only when the socket says something happened."""

from __future__ import annotations

import select
import subprocess
import sys
import time

import pytest
from django.db import connection, connections, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.models.expressions import RawSQL

from jobbergate.api.serializers import _iso
from jobbergate.database import QUIET_CHECK_SECONDS, WireTimestamp, fast_timestamp_loader
from jobscripts.models import JobScript

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

TIMESTAMPS = """
    SELECT v FROM (VALUES
        (timestamptz '2026-01-02 03:04:05+00'),
        (timestamptz '2026-01-02 03:04:05.000001+00'),
        (timestamptz '2026-01-02 03:04:05.5-07:30'),
        (timestamptz '1999-12-31 23:59:59.999999+14'),
        (timestamptz '0999-06-01 00:00:00+00'),
        (now()),
        (NULL)
    ) AS t(v)
"""


def read(install, sql=TIMESTAMPS) -> list:
    with connection.cursor() as cursor:
        install(cursor.cursor)  # Django's cursor wraps psycopg's
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


WIRE = """
    SELECT v FROM (VALUES
        (timestamptz '2026-01-02 03:04:05+00'),
        (timestamptz '2026-01-02 03:04:05.000001+00'),
        (timestamptz '2026-01-02 03:04:05.1+00'),
        (timestamptz '2026-01-02 03:04:05.120000+00'),
        (timestamptz '2026-01-02 03:04:05.999999+00'),
        (timestamptz '2026-01-02 03:04:05.5-07:30'),
        (timestamptz '1999-12-31 23:59:59.999999+14'),
        (timestamptz '0999-06-01 00:00:00+00'),
        (timestamptz '2000-02-29 12:00:00+00'),
        (now()),
        (NULL)
    ) AS t(v)
"""


def test_timestamps_written_for_the_wire_by_postgresql_are_the_text_the_api_writes_for_them():
    """``WireTimestamp``'s text is what the serializers write for the datetime Django reads (``_iso``), whatever the
    session's DateStyle."""
    datetimes = read(lambda cursor: None, WIRE)
    compiler = JobScript.objects.none().query.get_compiler(connection=connection)
    sql, params = WireTimestamp(RawSQL("v", [])).as_sql(compiler, connection)
    for setting in ("DateStyle = 'ISO, MDY'", "DateStyle = 'SQL, DMY'", "TIME ZONE 'Asia/Kolkata'"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL {setting}")  # until the end of this transaction only
            texts = read(lambda cursor: None, f"SELECT {sql} FROM ({WIRE}) AS w(v)")
        assert texts[-1] is None
        assert texts[:-1] == [_iso(value) for value in datetimes[:-1]], setting


def test_the_connection_reads_timestamps_with_the_c_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader is fast_timestamp_loader(connection.timezone)
    assert loader.timezone == connection.timezone  # else Django would register its own before every cursor


def test_the_values_are_django_s_own():
    fast = read(lambda cursor: None)
    django = read(lambda cursor: register_tzloader(connection.timezone, cursor))
    assert fast == django
    assert [value.tzinfo for value in fast if value] == [value.tzinfo for value in django if value]
    assert [value.isoformat() for value in fast if value] == [value.isoformat() for value in django if value]


def test_a_statement_run_five_times_is_kept_prepared_by_postgresql():
    """JOBBERGATE_DB_PREPARED_STATEMENTS (on by default): the values travel apart from the SQL, and PostgreSQL keeps
    a statement the connection runs again and again prepared, so it parses and plans it once."""
    sql = "SELECT id FROM jobscripts_jobscript WHERE owner_email = %s AND name = %s"
    with connection.cursor() as cursor:
        for n in range(6):
            cursor.execute(sql, [f"user{n}@example.com", "it's; DROP TABLE x"])
            assert cursor.fetchall() == []
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        kept = [row[0] for row in cursor.fetchall()]
    assert "SELECT id FROM jobscripts_jobscript WHERE owner_email = $1 AND name = $2" in kept


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    from django.conf import settings

    script = "from django.conf import settings; print(sorted(settings.DATABASES['default'].get('OPTIONS', {})))"
    environment = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "jobbergate.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "JOBBERGATE_VAR_DIR": settings.VAR_DIR.as_posix(),
    }
    options = {}
    for value in ("true", "false"):
        result = subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); " + script],
            env={**environment, "JOBBERGATE_DB_PREPARED_STATEMENTS": value},
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        options[value] = result.stdout.strip()
    assert options == {"true": "['prepare_threshold', 'server_side_binding']", "false": "[]"}


@pytest.fixture
def kept_connection():
    """A second connection to the test database, as a server thread keeps one between requests, used by one request
    already; its health checks are counted from here: ``asked`` is how many times it asked the server (Django's
    ``is_usable``, a ``SELECT 1``)."""
    kept = connections.create_connection("default")
    real = kept.is_usable

    def is_usable():
        kept.asked += 1
        return real()

    kept.is_usable = is_usable
    kept.ensure_connection()
    assert kept.health_check_enabled  # settings: conn_health_checks
    request(kept, lambda: backend_pid(kept))
    kept.asked = 0
    yield kept
    kept.close()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def request(wrapper, work):
    """What Django does with a connection around a request (request_started, request_finished), ``work`` between:
    the health check comes with the request's first cursor."""
    wrapper.close_if_unusable_or_obsolete()
    try:
        return work()
    finally:
        wrapper.close_if_unusable_or_obsolete()


def wait_until_readable(wrapper) -> None:
    poller = select.poll()
    poller.register(wrapper.connection.pgconn.socket, select.POLLIN)
    deadline = time.monotonic() + 10
    while not poller.poll(50):
        assert time.monotonic() < deadline, "the server said nothing to the connection within 10 s"


def test_the_backend_is_ours():
    assert type(connections["default"]).__module__ == "jobbergate.postgresql.base"
    assert connections["default"].vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
def test_a_quiet_connection_used_moments_ago_passes_the_check_without_a_round_trip(kept_connection):
    pids = [request(kept_connection, lambda: backend_pid(kept_connection)) for _ in range(3)]
    assert kept_connection.asked == 0
    assert len(set(pids)) == 1  # the same session, kept


@pytest.mark.django_db(transaction=True)
def test_a_connection_idle_for_longer_asks_the_server(kept_connection):
    """A server that is gone without a word (a rebooted host, a moved address) answers only a packet, with a reset:
    a connection left idle for longer than QUIET_CHECK_SECONDS is asked with Django's SELECT 1."""
    kept_connection.used_at -= QUIET_CHECK_SECONDS + 1  # as if that much time had passed since its last request
    pid = request(kept_connection, lambda: backend_pid(kept_connection))
    assert kept_connection.asked == 1
    assert pid == request(kept_connection, lambda: backend_pid(kept_connection))
    assert kept_connection.asked == 1  # used moments ago again


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(kept_connection):
    pid = request(kept_connection, lambda: backend_pid(kept_connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone() == (True,)
    wait_until_readable(kept_connection)  # the server's FATAL message and the end of the stream
    assert request(kept_connection, lambda: backend_pid(kept_connection)) != pid  # a new session, no error
    assert kept_connection.asked == 1  # asked, failed, closed, connected anew


@pytest.mark.django_db(transaction=True)
def test_a_connection_with_something_to_read_asks_the_server_and_is_kept_when_it_answers(kept_connection):
    """Anything the server sent while the connection sat idle (here a notification) makes the check ask; a server
    that answers keeps the connection."""

    def listen():
        with kept_connection.cursor() as cursor:
            cursor.execute("LISTEN jobbergate_health_check")
        return backend_pid(kept_connection)

    pid = request(kept_connection, listen)
    with connection.cursor() as cursor:
        cursor.execute("NOTIFY jobbergate_health_check")
    wait_until_readable(kept_connection)
    assert request(kept_connection, lambda: backend_pid(kept_connection)) == pid
    assert kept_connection.asked == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_inside_a_transaction_asks_the_server(kept_connection):
    kept_connection.set_autocommit(False)
    with kept_connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # psycopg begins the transaction here
    kept_connection.health_check_done = False
    kept_connection.close_if_health_check_failed()
    assert kept_connection.asked == 1
    kept_connection.rollback()
    kept_connection.set_autocommit(True)
