"""Timestamps read with psycopg's C loader (jobbergate/database.py) are the values Django's own loader gives."""

from __future__ import annotations

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
