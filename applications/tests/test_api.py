"""API of applications: the generic resource contract, plus identifiers and the template/workflow files."""

from __future__ import annotations

import json

import pytest

from applications.models import JobScriptTemplate
from testkit.api import ResourceAPITestCase
from testkit.factories import make_job_script, make_template

URL = "/jobbergate/job-script-templates"


class TestApplicationAPI(ResourceAPITestCase):
    url = URL
    model = JobScriptTemplate
    private = False

    def make(self, owner_email):
        return make_template(owner_email)

    def create_payload(self, persona):
        return {"name": "new app", "identifier": "new-app", "template_vars": {"partition": "debug"}}


@pytest.mark.django_db
class TestIdentifiers:
    def test_an_identifier_works_wherever_an_id_does(self, alice):
        template = make_template(alice.email, identifier="hello-world")
        assert alice.client.get(f"{URL}/hello-world").json()["id"] == template.pk
        assert alice.client.put(f"{URL}/hello-world", {"name": "x"}, format="json").status_code == 200
        assert alice.client.post(f"{URL}/clone/hello-world", {}, format="json").status_code == 201

    def test_a_duplicate_identifier_gets_409(self, alice):
        make_template(alice.email, identifier="taken")
        response = alice.client.post(URL, {"name": "again", "identifier": "taken"}, format="json")
        assert response.status_code == 409
        assert "taken" in response.json()["detail"]
        assert JobScriptTemplate.objects.count() == 1

    def test_renaming_onto_a_taken_identifier_gets_409(self, alice):
        make_template(alice.email, identifier="taken")
        other = make_template(alice.email, identifier="mine")
        assert alice.client.put(f"{URL}/{other.pk}", {"identifier": "taken"}, format="json").status_code == 409

    @pytest.mark.parametrize("identifier", ["", "   ", "12345"])
    def test_an_empty_or_all_digit_identifier_gets_422(self, alice, identifier):
        response = alice.client.post(URL, {"name": "x", "identifier": identifier}, format="json")
        assert response.status_code == 422
        assert "identifier" in response.json()["detail"]
        assert not JobScriptTemplate.objects.exists()

    def test_rows_without_identifier_are_listed_only_on_request(self, alice):
        make_template(alice.email, identifier=None)
        assert alice.client.get(URL).json()["total"] == 0
        assert alice.client.get(URL, {"include_null_identifier": "true"}).json()["total"] == 1

    def test_template_vars_must_be_an_object(self, alice):
        response = alice.client.post(URL, {"name": "x", "template_vars": [1, 2]}, format="json")
        assert response.status_code == 422

    def test_numbers_past_64_bits_and_any_text_come_back_as_sent(self, alice):
        # The answers' fast encoder (orjson) refuses integers past 64 bits: such answers take DRF's encoder.
        sent = {"big": 2**80, "small": -(2**70), "float": 1.5, "text": "é\u2028𝄞"}
        created = alice.client.post(URL, {"name": "x", "identifier": "big", "template_vars": sent}, format="json")
        assert created.status_code == 201, created.content
        assert json.loads(created.content)["template_vars"] == sent
        listed = alice.client.get(URL, {"user_only": "true"})
        assert json.loads(listed.content)["items"][0]["template_vars"] == sent

    def test_clone_does_not_copy_the_unique_identifier(self, alice, bob):
        template = make_template(alice.email, identifier="orig")
        body = bob.client.post(f"{URL}/clone/orig", {}, format="json").json()
        assert body["cloned_from_id"] == template.pk
        assert body["identifier"] is None
        assert [f["filename"] for f in body["template_files"]] == ["job.sh.j2"]

    def test_deleting_an_application_keeps_its_job_scripts(self, alice):
        template = make_template(alice.email)
        job_script = make_job_script(alice.email, template=template)
        assert alice.client.delete(f"{URL}/{template.pk}").status_code == 204
        job_script.refresh_from_db()
        assert job_script.parent_template_id is None

    def test_the_list_filters_by_sortable_identifier(self, alice):
        make_template(alice.email, identifier="b-app")
        make_template(alice.email, identifier="a-app")
        body = alice.client.get(URL, {"sort_field": "identifier"}).json()
        assert [item["identifier"] for item in body["items"]] == ["a-app", "b-app"]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["99999999999999999999999", "¹", "%C2%B9"])
def test_an_id_too_large_or_a_unicode_digit_is_a_404_not_a_crash(alice, key):
    assert alice.client.get(f"{URL}/{key}").status_code == 404
