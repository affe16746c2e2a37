"""What a browser and a careful client see: OPTIONS needs only read, and every page sends a Content-Security-Policy."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


class TestOptions:
    def test_options_on_a_list_answers_a_read_only_caller(self, reader):
        response = reader.client.options("/jobbergate/job-scripts")
        assert response.status_code == 200, response.content
        assert response.json()["name"]

    def test_options_lists_only_the_forms_the_caller_may_send(self, reader, alice):
        assert "actions" not in reader.client.options("/jobbergate/job-scripts").json()
        assert "POST" in alice.client.options("/jobbergate/job-scripts").json()["actions"]

    def test_options_still_needs_read(self, agent):
        response = agent.client.options("/jobbergate/job-script-templates")
        assert response.status_code == 403
        assert "jobbergate:job-templates:read" in response.json()["detail"]
