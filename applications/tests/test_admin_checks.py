"""The admin cannot store what the API would refuse (issue 11, item 6), and no endpoint answers a 500 for a row stored
before a rule existed: the model's validators are the API's rules, called once more when a stored row is read."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from applications.models import JobScriptTemplate
from applications.tests.test_hostile_applications import change_in_the_admin
from jobscripts.models import JobScript
from submissions.models import JobSubmission

pytestmark = pytest.mark.django_db

BAD_QUESTIONS = '[{"name": "1bad"}, {"name": "n", "type": "colour"}]'


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"questions": BAD_QUESTIONS}, "name must be an identifier"),
        ({"questions": '{"not": "a list"}'}, "questions must be a list"),
        ({"template_vars": "[1, 2]"}, "must be a JSON object"),
        ({"name": "evil\u202etxt"}, "invisible characters"),
        ({"description": "x" * 300}, "at most 255 characters"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses_and_stores_nothing(fields, fragment):
    template, response = change_in_the_admin(**fields)
    assert response.status_code == 200  # the form again, with the reason next to the field
    assert fragment in response.content.decode()
    assert (template.questions, template.template_vars, template.name) == ([], {}, "t")


def test_a_stored_row_with_invalid_questions_is_a_422_not_a_500(alice):
    """Rows written around the API (an old admin, SQL) must not break the endpoints that read them."""
    template = JobScriptTemplate.objects.create(name="t", identifier="t", owner_email=alice.email)
    JobScriptTemplate.objects.filter(pk=template.pk).update(questions=[{"name": "n", "type": "colour"}, "junk"])
    response = alice.client.get(f"/jobbergate/job-script-templates/{template.pk}/schema")
    assert response.status_code == 422
    assert "stored questions of this application are invalid" in response.json()["detail"]
    render = alice.client.post(
        "/jobbergate/job-scripts/render-from-template/t",
        {"create_request": {"name": "x"}, "render_request": {"template_output_name_mapping": {"a.j2": "a"}}},
        format="json",
    )
    assert 400 <= render.status_code < 500


def test_the_submission_admin_refuses_sbatch_arguments_the_agent_would_refuse(alice):
    script = JobScript.objects.create(name="s", owner_email=alice.email)
    submission = JobSubmission.objects.create(name="run", owner_email=alice.email, job_script=script, client_id="c")
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-a-test"))
    form = {
        "name": "run",
        "description": "",
        "owner_email": alice.email,
        "job_script": script.pk,
        "client_id": "c",
        "execution_directory": "",
        "sbatch_arguments": '["--ui=0"]',
        "progress-TOTAL_FORMS": "0",
        "progress-INITIAL_FORMS": "0",
        "progress-MAX_NUM_FORMS": "1000",
    }
    response = browser.post(f"/admin/submissions/jobsubmission/{submission.pk}/change/", form)
    assert response.status_code == 200
    assert "may not be given" in response.content.decode()
    submission.refresh_from_db()
    assert submission.sbatch_arguments == []
