"""API of job submissions: the generic resource contract, plus creation rules, filters and re-run."""

from __future__ import annotations

import pytest

from submissions.choices import JobSubmissionStatus
from submissions.models import JobSubmission
from testkit.api import ResourceAPITestCase
from testkit.factories import make_job_script, make_submission

URL = "/jobbergate/job-submissions"


class TestJobSubmissionAPI(ResourceAPITestCase):
    url = URL
    model = JobSubmission
    private = True
    update_data = {"name": "renamed", "description": "changed", "execution_directory": "/scratch/run"}

    def make(self, owner_email):
        return make_submission(owner_email)

    def create_payload(self, persona):
        return {"name": "run", "job_script_id": make_job_script(persona.email).pk, "client_id": "cluster-a"}


@pytest.mark.django_db
class TestCreatingSubmissions:
    def test_a_new_submission_is_created_with_a_progress_entry(self, alice):
        job_script = make_job_script(alice.email)
        body = alice.client.post(
            URL,
            {"name": "run", "job_script_id": job_script.pk, "client_id": "c1", "sbatch_arguments": ["--time=5"]},
            format="json",
        ).json()
        assert body["status"] == "CREATED"
        assert body["sbatch_arguments"] == ["--time=5"]
        assert body["job_script"]["id"] == job_script.pk
        assert JobSubmission.objects.get(pk=body["id"]).progress.count() == 1

    def test_the_answer_is_what_a_get_answers_afterwards(self, alice):
        job_script = make_job_script(alice.email)
        body = {
            "name": "run",
            "job_script_id": job_script.pk,
            "execution_directory": "/tmp",
            "sbatch_arguments": ["-N1"],
        }
        created = alice.client.post(URL, body, format="json").json()
        assert alice.client.get(f"{URL}/{created['id']}").json() == created

    def test_a_slurm_job_id_means_it_was_submitted_on_site(self, alice):
        job_script = make_job_script(alice.email)
        payload = {"name": "run", "job_script_id": job_script.pk, "client_id": "c1", "slurm_job_id": 77}
        assert alice.client.post(URL, payload, format="json").json()["status"] == "SUBMITTED"

    def test_the_cluster_defaults_to_the_tokens_client_id(self, alice):
        """As upstream: without client_id the token's azp is used (ours name the local issuer)."""
        job_script = make_job_script(alice.email)
        body = alice.client.post(URL, {"name": "run", "job_script_id": job_script.pk}, format="json").json()
        assert body["client_id"] == "jobbergate-local"

    def test_someone_elses_job_script_cannot_be_submitted(self, alice, bob):
        job_script = make_job_script(alice.email)
        response = bob.client.post(URL, {"name": "x", "job_script_id": job_script.pk, "client_id": "c"}, format="json")
        assert response.status_code == 404
        assert not JobSubmission.objects.exists()

    def test_a_job_script_without_entrypoint_cannot_be_submitted(self, alice):
        job_script = make_job_script(alice.email, files=False)
        response = alice.client.post(
            URL, {"name": "x", "job_script_id": job_script.pk, "client_id": "c"}, format="json"
        )
        assert response.status_code == 422
        assert "ENTRYPOINT" in response.json()["detail"]

    def test_more_than_50_sbatch_arguments_get_422(self, alice):
        job_script = make_job_script(alice.email)
        payload = {"name": "x", "job_script_id": job_script.pk, "client_id": "c", "sbatch_arguments": ["-N1"] * 51}
        assert alice.client.post(URL, payload, format="json").status_code == 422

    def test_status_and_slurm_fields_cannot_be_set_by_a_user(self, alice):
        submission = make_submission(alice.email)
        alice.client.put(f"{URL}/{submission.pk}", {"status": "DONE", "slurm_job_id": 5}, format="json")
        submission.refresh_from_db()
        assert submission.status == JobSubmissionStatus.CREATED
        assert submission.slurm_job_id is None


@pytest.mark.django_db
class TestSubmissionList:
    def test_filters_by_status_job_script_and_slurm_ids(self, alice):
        first = make_submission(alice.email, slurm_job_id=11, status=JobSubmissionStatus.SUBMITTED)
        second = make_submission(alice.email, slurm_job_id=12, status=JobSubmissionStatus.SUBMITTED)
        make_submission(alice.email)

        def ids(params):
            return sorted(item["id"] for item in alice.client.get(URL, params).json()["items"])

        assert ids({"submit_status": "SUBMITTED"}) == [first.pk, second.pk]
        assert ids({"slurm_job_ids": "12,99"}) == [second.pk]
        assert ids({"from_job_script_id": first.job_script_id}) == [first.pk]

    def test_bad_filter_values_get_400(self, alice):
        assert alice.client.get(URL, {"submit_status": "SLEEPING"}).status_code == 400
        assert alice.client.get(URL, {"slurm_job_ids": "1,x"}).status_code == 400

    def test_search_matches_the_cluster(self, alice):
        wanted = make_submission(alice.email, client_id="gpu-cluster")
        make_submission(alice.email, client_id="cpu")
        body = alice.client.get(URL, {"search": "GPU"}).json()
        assert [item["id"] for item in body["items"]] == [wanted.pk]

    def test_rerun_of_a_submission_whose_job_script_is_gone_gets_400(self, alice):
        submission = make_submission(alice.email)
        submission.job_script.delete()
        response = alice.client.post(f"{URL}/clone/{submission.pk}", {}, format="json")
        assert response.status_code == 400
        assert "deleted" in response.json()["detail"]


@pytest.mark.django_db
def test_upstream_clis_null_fields_are_accepted(alice):
    job_script = make_job_script(alice.email)
    payload = {
        "name": "run",
        "description": None,
        "job_script_id": job_script.pk,
        "slurm_job_id": None,
        "client_id": "cluster-a",
        "execution_directory": None,
        "sbatch_arguments": None,
    }
    response = alice.client.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["sbatch_arguments"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"from_job_script_id": "-1.7976931348623155e+308"},
        {"from_job_script_id": "1.5"},
        {"slurm_job_ids": "1,99999999999999999999"},
    ],
)
def test_filter_numbers_out_of_range_get_400(alice, params):
    assert alice.client.get(URL, params).status_code == 400


@pytest.mark.django_db
def test_a_job_script_id_beyond_64_bits_gets_422(alice):
    payload = {"name": "x", "job_script_id": 2**70, "client_id": "c"}
    assert alice.client.post(URL, payload, format="json").status_code == 422
