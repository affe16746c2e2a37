"""Timestamps read with psycopg's C loader (jobbergate/database.py) are the values Django's own loader gives."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader

from jobbergate.database import fast_timestamp_loader

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


def read(install) -> list:
    with connection.cursor() as cursor:
        install(cursor.cursor)  # Django's cursor wraps psycopg's
        cursor.execute(TIMESTAMPS)
        return [row[0] for row in cursor.fetchall()]


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
