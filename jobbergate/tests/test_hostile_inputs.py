"""Hostile inputs get a 4xx with a JSON ``detail`` and change nothing (issue 10, finding 7).

Every test here answered 500 (or a misleading 409) before its fix.
"""

from __future__ import annotations

import pytest

from applications.models import JobScriptTemplate
from applications.services import upload_template_file
from jobbergate.testing.factories import make_template
from jobscripts.models import JobScript, JobScriptFile
from submissions.models import JobSubmission

TEMPLATES = "/jobbergate/job-script-templates"
RENDER = "/jobbergate/job-scripts/render-from-template"
SUBMISSIONS = "/jobbergate/job-submissions"


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count() for model in (JobScriptTemplate, JobScript, JobScriptFile, JobSubmission)
    }


@pytest.fixture
def app(alice):
    template = make_template(alice.email, identifier="demo", files=False)
    upload_template_file(
        template=template, file_type="ENTRYPOINT", filename="job.sh.j2", content=b"#!/bin/bash\necho {{ value }}\n"
    )
    return template


def render_body(param_dict) -> dict:
    return {
        "create_request": {"name": "rendered"},
        "render_request": {"template_output_name_mapping": {"job.sh.j2": "job.sh"}, "param_dict": param_dict},
    }


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    for word in words:
        assert word in detail.lower()


@pytest.mark.django_db
class TestParameterNames:
    def test_a_parameter_named_self_is_an_ordinary_parameter(self, alice, app):
        response = alice.client.post(f"{RENDER}/demo", render_body({"data": {"self": 1, "value": 2}}), format="json")
        assert response.status_code == 201, response.content
        job_script = JobScript.objects.get(pk=response.json()["id"])
        assert job_script.files.get(filename="job.sh").read_text() == "#!/bin/bash\necho 2\n"
        assert job_script.render_parameters == {"data": {"self": 1, "value": 2}}


@pytest.mark.django_db
class TestErrorsUnderTheAPI:
    def test_an_unrouted_path_under_the_api_is_a_json_404(self, alice):
        response = alice.client.get("/jobbergate/no-such-thing")
        assert_refused(response, 404, "not found")

    def test_an_unexpected_exception_under_the_api_is_a_json_500(self, alice, monkeypatch):
        # Forced: the job-script list is replaced by a view that raises, as a bug would.
        from jobscripts.views import JobScriptViewSet

        def broken(self, request, *args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(JobScriptViewSet, "list", broken)
        alice.client.raise_request_exception = False
        response = alice.client.get("/jobbergate/job-scripts")
        assert response.status_code == 500
        assert "detail" in response.json()
        assert "a bug" not in response.content.decode()

    def test_a_wrong_method_on_the_health_probe_is_a_json_405(self, client):
        response = client.post("/jobbergate/health")
        assert_refused(response, 405, "not allowed")
        assert response["Allow"] == "GET, HEAD"

    def test_pages_outside_the_api_keep_html_errors(self, client):
        response = client.get("/no-such-thing")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/oidc/authenticate/", "/oidc/callback/?code=x&state=y"])
def test_openid_sign_in_when_not_configured_is_a_404_that_says_so(client, settings, url):
    settings.OIDC_ADMIN_SIGN_IN = False
    response = client.get(url)
    assert response.status_code == 404
    assert "OpenID sign-in is not configured" in response.content.decode()
