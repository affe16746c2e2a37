"""Property-based fuzzing of every documented operation: whatever a client sends, the answer is never a 5xx.

Schemathesis generates requests from our own OpenAPI document (valid and invalid bodies, paths and query
parameters) and sends them through the WSGI application with a real server-issued token.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from testkit.factories import make_job_script, make_submission, make_template

pytestmark = pytest.mark.fuzz


@pytest.fixture
def api_schema(db):
    """Our schema, called through the WSGI application in this process and this test's transaction."""
    from jobbergate.wsgi import application

    # As Django's test client does: requests must not close the connection that holds the test transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/jobbergate/openapi.json", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(alice):
    """A few rows with small ids, so generated ids sometimes hit something real."""
    for _ in range(2):
        template = make_template(alice.email)
        make_submission(alice.email, job_script=make_job_script(alice.email, template=template))
    return alice


def test_no_generated_request_gets_a_server_error(api_schema, seeded):
    headers = {"Authorization": f"Bearer {seeded.token}", "Host": "127.0.0.1"}
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def no_server_error(case):
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses[response.status_code] += 1

        no_server_error()
    # The generator reached both sides: accepted requests and refused ones.
    assert sum(count for status, count in statuses.items() if status < 300) > 20, statuses
    assert sum(count for status, count in statuses.items() if 400 <= status < 500) > 100, statuses
