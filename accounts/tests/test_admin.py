"""Tokens created and revoked in the admin work exactly like those from the command."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import ApiToken
from jobbergate.choices import Permission


@pytest.fixture
def operator(client, db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(admin)
    return client


def test_an_operator_creates_a_token_that_is_shown_once_and_works(operator):
    alice = get_user_model().objects.create_user("alice", "alice@example.com")
    response = operator.post(
        "/admin/accounts/apitoken/add/",
        {"user": alice.pk, "name": "laptop", "permissions": [Permission.TEMPLATES_READ.value], "lifetime_days": 7},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    token = re.search(r"not shown again: (\S+?)<", text).group(1)
    row = ApiToken.objects.get()
    assert row.permissions == [Permission.TEMPLATES_READ.value]
    assert token not in str(row.__dict__)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/jobbergate/job-script-templates").status_code == 200

    operator.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}, follow=True)
    assert api.get("/jobbergate/job-script-templates").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/admin/applications/jobscripttemplate/",
        "/admin/jobscripts/jobscript/",
        "/admin/submissions/jobsubmission/",
        "/admin/submissions/clusterstatus/",
        "/admin/accounts/apitoken/",
    ],
)
def test_every_resource_is_listed_in_the_admin(operator, path):
    assert operator.get(path).status_code == 200


def test_change_pages_show_files_and_progress(operator):
    from testkit.factories import make_submission, make_template

    template = make_template("alice@example.com")
    submission = make_submission("alice@example.com")
    pages = {
        f"/admin/applications/jobscripttemplate/{template.pk}/change/": "SBATCH --job-name",
        f"/admin/jobscripts/jobscript/{submission.job_script_id}/change/": "echo hello",
        f"/admin/submissions/jobsubmission/{submission.pk}/change/": "cluster-a",
    }
    for path, expected in pages.items():
        response = operator.get(path)
        assert response.status_code == 200, path
        assert expected in response.content.decode(), path


def test_an_action_a_rule_refuses_is_a_message_not_a_500(operator):
    """Cloning a submission whose job script was deleted is refused by the service (a domain error): the admin
    shows why next to the rows it did clone, and answers 200."""
    from jobscripts.services import delete_job_script
    from submissions.models import JobSubmission
    from testkit.factories import make_submission

    orphan = make_submission("alice@example.com")
    delete_job_script(job_script=orphan.job_script)
    fine = make_submission("alice@example.com")
    before = JobSubmission.objects.count()

    response = operator.post(
        "/admin/submissions/jobsubmission/",
        {"action": "clone", "_selected_action": [orphan.pk, fine.pk]},
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any(text.startswith("Created 1 clone(s)") for text in shown), shown
    assert f"Not cloned: #{orphan.pk}: Submission {orphan.pk} cannot be cloned: its job script was deleted." in shown
    assert JobSubmission.objects.count() == before + 1
