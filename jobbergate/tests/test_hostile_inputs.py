"""Hostile inputs get a 4xx with a JSON ``detail`` and change nothing (issue 10, finding 7).

Every test here answered 500 (or a misleading 409) before its fix.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from applications.models import JobScriptTemplate, WorkflowFile
from applications.serializers import JobScriptTemplateListSerializer
from applications.services import upload_template_file
from jobbergate.errors import Invalid
from jobscripts.models import JobScript, JobScriptFile
from jobscripts.services import render_job_script
from submissions.models import JobSubmission
from testkit.factories import make_template

TEMPLATES = "/jobbergate/job-script-templates"
RENDER = "/jobbergate/job-scripts/render-from-template"
SUBMISSIONS = "/jobbergate/job-submissions"


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count() for model in (JobScriptTemplate, JobScript, JobScriptFile, JobSubmission)
    }


def nested(depth: int, leaf="x"):
    """A value ``depth`` levels deep: {"a": {"a": ... leaf}}."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def deep_json_text(depth: int) -> str:
    return "[" * depth + "]" * depth


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


def render_with_service(template, persona, param_dict):
    """The service itself, as a command would call it: no JSON parser in front of it."""
    return render_job_script(
        template=template,
        owner_email=persona.email,
        name="rendered",
        template_output_name_mapping={"job.sh.j2": "job.sh"},
        param_dict=param_dict,
    )


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    for word in words:
        assert word in detail.lower()


@pytest.mark.django_db
class TestDeepJSONBodies:
    @pytest.mark.parametrize("url", [TEMPLATES, f"{RENDER}/demo", SUBMISSIONS])
    def test_a_body_nested_100k_deep_is_400_and_creates_nothing(self, alice, app, url):
        before = row_counts()
        response = alice.client.post(url, deep_json_text(100_000), content_type="application/json")
        assert_refused(response, 400, "nest")
        assert row_counts() == before

    def test_a_param_dict_900_deep_is_refused(self, alice, app):
        before = row_counts()
        response = alice.client.post(f"{RENDER}/demo", render_body({"data": nested(900)}), format="json")
        assert_refused(response, 400, "nest")
        assert row_counts() == before

    def test_template_vars_900_deep_are_refused(self, alice):
        before = row_counts()
        response = alice.client.post(TEMPLATES, {"name": "x", "template_vars": nested(900)}, format="json")
        assert_refused(response, 400, "nest")
        assert row_counts() == before

    def test_a_body_at_the_depth_limit_is_accepted_one_more_level_is_not(self, alice):
        # The body is one level, template_vars one more, and the leaf a level of its own: 64 in all.
        response = alice.client.post(TEMPLATES, {"name": "x", "template_vars": nested(62)}, format="json")
        assert response.status_code == 201, response.content
        response = alice.client.post(TEMPLATES, {"name": "y", "template_vars": nested(63)}, format="json")
        assert_refused(response, 400, "nested deeper than 64 levels")
        assert JobScriptTemplate.objects.count() == 1

    @pytest.mark.parametrize("runtime_config", [deep_json_text(100_000), '{"a": NaN}'])
    def test_a_runtime_config_form_field_is_parsed_as_strictly_as_a_json_body(self, alice, app, runtime_config):
        before = WorkflowFile.objects.count()
        data = {"upload_file": SimpleUploadedFile("jobbergate.py", b"x = 1\n"), "runtime_config": runtime_config}
        response = alice.client.put(f"{TEMPLATES}/demo/upload/workflow", data, format="multipart")
        assert_refused(response, 400, "runtime_config must be json text")
        assert WorkflowFile.objects.count() == before

    def test_template_vars_are_bounded_whatever_fills_the_serializer(self, alice):
        # Not through the JSON parser: a Python value, as a command or the admin would pass.
        serializer = JobScriptTemplateListSerializer(data={"name": "x", "template_vars": nested(900)})
        assert not serializer.is_valid()
        assert "nested deeper than 64 levels" in str(serializer.errors["template_vars"])

    def test_the_render_service_refuses_a_deep_param_dict_whatever_calls_it(self, alice, app):
        before = row_counts()
        with pytest.raises(Invalid, match="param_dict is nested deeper than 64 levels"):
            render_with_service(app, alice, {"data": nested(900)})
        assert row_counts() == before


@pytest.mark.django_db
class TestNonFiniteNumbers:
    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
    def test_a_non_finite_number_is_400_not_409(self, alice, constant):
        before = row_counts()
        body = '{"name": "x", "template_vars": {"v": CONSTANT}}'.replace("CONSTANT", constant)
        response = alice.client.post(TEMPLATES, body, content_type="application/json")
        assert_refused(response, 400, "non-finite numbers")
        assert row_counts() == before

    @pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_template_vars_are_refused_whatever_fills_the_serializer(self, alice, number):
        serializer = JobScriptTemplateListSerializer(data={"name": "x", "template_vars": {"v": number}})
        assert not serializer.is_valid()
        assert "not finite" in str(serializer.errors["template_vars"])

    def test_the_render_service_refuses_a_non_finite_parameter(self, alice, app):
        with pytest.raises(Invalid, match="not finite"):
            render_with_service(app, alice, {"value": float("nan")})
        assert not JobScript.objects.exists()


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


# Found by probing the service as an ordinary user (issue 10: the same class of hole elsewhere) ------------------


@pytest.mark.django_db
class TestProbeFindings:
    def test_a_search_of_hundreds_of_terms_is_a_400_not_a_500(self, alice):
        response = alice.client.get(TEMPLATES, {"search": " ".join(["a"] * 500)})
        assert_refused(response, 400, "at most 10 terms")

    @pytest.mark.parametrize("page", ["１", "١", "1_0", "9" * 4000])
    def test_numbers_in_queries_are_plain_ascii_digits(self, alice, page):
        assert_refused(alice.client.get(TEMPLATES, {"page": page}), 400, "ascii digits")

    def test_a_token_client_asking_for_html_gets_json(self, alice):
        response = alice.client.get(TEMPLATES, HTTP_ACCEPT="text/html,*/*")
        assert response["Content-Type"].startswith("application/json")

    def test_an_admin_session_still_gets_the_browsable_api(self, carol):
        from django.contrib.auth import get_user_model
        from django.test import Client

        browser = Client()
        browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-a-test"))
        response = browser.get(TEMPLATES, HTTP_ACCEPT="text/html")
        assert response["Content-Type"].startswith("text/html")

    @pytest.mark.parametrize("field", ["name", "description"])
    def test_names_shown_to_others_refuse_bidi_and_invisible_characters(self, alice, field):
        body = {"name": "ok", field: "evil\u202etxt.exe"}
        assert_refused(alice.client.post(TEMPLATES, body, format="json"), 422, "invisible characters")

    @pytest.mark.parametrize(
        "argument, fragment", [("--time=10\n#SBATCH --uid=0", "one line"), ("--x\x00", "null characters")]
    )
    def test_submission_sbatch_arguments_are_one_line_like_render_parameters(self, alice, argument, fragment):
        from jobscripts.models import JobScript

        script = JobScript.objects.create(name="s", owner_email=alice.email)
        body = {"name": "run", "job_script_id": script.pk, "client_id": "cluster-a", "sbatch_arguments": [argument]}
        assert_refused(alice.client.post("/jobbergate/job-submissions", body, format="json"), 422, fragment)

    def test_a_post_to_health_without_csrf_is_json(self):
        from django.test import Client

        response = Client(enforce_csrf_checks=True).post("/jobbergate/health")
        assert response.status_code == 405
        assert response.json()["detail"]


class TestSbatchArgumentsMirror:
    """The server refuses the sbatch options the agent refuses: one rule, mirrored in the CLI, pinned here."""

    def test_the_forbidden_options_are_the_agents(self):
        from jobbergate_cli.contract import FORBIDDEN_SBATCH_OPTIONS

        from jobbergate.validation import SBATCH_FORBIDDEN_OPTIONS

        assert set(SBATCH_FORBIDDEN_OPTIONS) == set(FORBIDDEN_SBATCH_OPTIONS)

    @pytest.mark.parametrize(
        "argument",
        ["--time=10", "-N2", "--ui=0", "--uid=0", "--gi", "--wra=id", "--comm=x", "--", "10", "--x\ny", "--partition"],
    )
    def test_the_server_and_the_agent_agree_on_each_argument(self, argument):
        from jobbergate_cli.slurm import SbatchRejected, check_sbatch_arguments

        from jobbergate.validation import sbatch_argument_problem

        try:
            check_sbatch_arguments([argument])
            agent_refuses = False
        except SbatchRejected:
            agent_refuses = True
        assert (sbatch_argument_problem(argument) is not None) == agent_refuses

    @pytest.mark.django_db
    @pytest.mark.parametrize("argument", ["--ui=0", "--wrap=id", "--comment=jobbergate:cluster-a:1:0"])
    def test_a_submission_refuses_them(self, alice, argument):
        from jobscripts.models import JobScript

        script = JobScript.objects.create(name="s", owner_email=alice.email)
        body = {"name": "run", "job_script_id": script.pk, "client_id": "cluster-a", "sbatch_arguments": [argument]}
        assert_refused(alice.client.post("/jobbergate/job-submissions", body, format="json"), 422, "may not be given")
