"""Claims: each CREATED submission goes to one agent instance at a time; and the sweep's verdicts on marked jobs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from rest_framework.test import APIClient

from jobbergate.choices import AGENT_PERMISSIONS
from submissions import services
from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobSubmission
from testkit.factories import make_submission
from testkit.personas import make_persona

AGENT = "/jobbergate/job-submissions/agent"
HEADER = "HTTP_X_JOBBERGATE_AGENT_INSTANCE"
pytestmark = pytest.mark.django_db


def pending(persona, instance: str | None = None, **params) -> list[int]:
    extra = {HEADER: instance} if instance else {}
    answer = persona.client.get(f"{AGENT}/pending", params, **extra)
    assert answer.status_code == 200, answer.content
    return [item["id"] for item in answer.json()["items"]]


class TestClaims:
    def test_two_instances_never_get_the_same_submission(self, agent, alice):
        rows = [make_submission(alice.email, client_id="cluster-a").pk for _ in range(5)]
        first = pending(agent, "one", size=3)
        second = pending(agent, "two")
        assert first == rows[:3] and second == rows[3:]
        assert pending(agent, "three") == []

    def test_an_instance_gets_its_own_claims_again_with_the_time_left(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        assert pending(agent, "one") == [row.pk]
        answer = agent.client.get(f"{AGENT}/pending", **{HEADER: "one"}).json()["items"]
        assert [item["id"] for item in answer] == [row.pk]
        assert 0 < answer[0]["claim_seconds_left"] <= 120

    def test_an_expired_claim_goes_to_another_instance(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        assert pending(agent, "dead") == [row.pk]
        assert pending(agent, "alive") == []
        JobSubmission.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
        assert pending(agent, "alive") == [row.pk]
        assert JobSubmission.objects.get(pk=row.pk).claimed_by == "agent:alive"

    def test_without_the_header_each_token_is_one_instance(self, agent, alice):
        """The upstream agent sends no instance id: two of its processes with one token share their claims (it
        cannot be told apart), two tokens of one cluster do not."""
        other = make_persona("agent-a2@example.com", list(AGENT_PERMISSIONS), client_id="cluster-a")
        row = make_submission(alice.email, client_id="cluster-a")
        assert pending(agent) == [row.pk]
        assert pending(agent) == [row.pk]
        assert pending(other) == []
        holder = JobSubmission.objects.get(pk=row.pk).claimed_by
        assert holder.startswith("token:") and agent.token not in holder  # a digest, not the token's id

    def test_reporting_the_job_or_the_rejection_ends_the_claim(self, agent, alice):
        submitted, rejected = (make_submission(alice.email, client_id="cluster-a") for _ in range(2))
        assert pending(agent, "one") == [submitted.pk, rejected.pk]
        report = {"id": submitted.pk, "slurm_job_id": 5, "slurm_job_state": "PENDING"}
        assert agent.client.post(f"{AGENT}/submitted", report, format="json").status_code == 202
        refusal = {"id": rejected.pk, "report_message": "no"}
        assert agent.client.post(f"{AGENT}/rejected", refusal, format="json").status_code == 202
        for row in JobSubmission.objects.filter(pk__in=[submitted.pk, rejected.pk]):
            assert (row.claimed_by, row.claimed_until) == (None, None)

    def test_a_claim_is_shown_by_the_api_and_the_admin(self, agent, alice, admin_client):
        row = make_submission(alice.email, client_id="cluster-a")
        pending(agent, "login-1")
        shown = alice.client.get(f"/jobbergate/job-submissions/{row.pk}").json()
        assert shown["claimed_by"] == "agent:login-1" and shown["claimed_until"]
        page = admin_client.get(f"/admin/submissions/jobsubmission/{row.pk}/change/")
        assert page.status_code == 200 and b"agent:login-1" in page.content

    def test_a_client_cannot_set_a_claim(self, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        answer = alice.client.put(
            f"/jobbergate/job-submissions/{row.pk}", {"claimed_by": "me", "claimed_until": None}, format="json"
        )
        assert answer.status_code == 200
        assert JobSubmission.objects.get(pk=row.pk).claimed_by is None

    @pytest.mark.parametrize("bad", ["", "x" * 65, "two words", "a/b", "é"])
    def test_a_bad_instance_id_is_a_400_and_claims_nothing(self, agent, alice, bad):
        make_submission(alice.email, client_id="cluster-a")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent.token}", **{HEADER: bad})
        answer = client.get(f"{AGENT}/pending")
        assert answer.status_code == 400, answer.content
        assert "X-Jobbergate-Agent-Instance" in answer.json()["detail"]
        assert not JobSubmission.objects.exclude(claimed_by=None).exists()

    def test_a_page_past_the_end_is_empty_however_far_and_claims_nothing(self, agent, alice):
        make_submission(alice.email, client_id="cluster-a")
        answer = agent.client.get(f"{AGENT}/pending", {"page": 10**15}, **{HEADER: "one"})
        assert answer.status_code == 200 and answer.json()["items"] == [] and answer.json()["total"] == 1
        assert not JobSubmission.objects.exclude(claimed_by=None).exists()

    def test_another_clusters_agent_claims_nothing_of_this_cluster(self, agent, alice):
        other = make_persona("agent-b@example.com", list(AGENT_PERMISSIONS), client_id="cluster-b")
        row = make_submission(alice.email, client_id="cluster-a")
        assert pending(other, "one") == []
        assert pending(agent, "two") == [row.pk]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_agents_asking_at_the_same_moment_split_the_work_on_postgresql(alice):
    """Eight instances ask at once, page after page (the rows locked by one are skipped by the others, not waited
    for): every submission is claimed exactly once."""
    assert connection.vendor == "postgresql"
    rows = {make_submission(alice.email, client_id="cluster-a").pk for _ in range(200)}
    start = threading.Barrier(8)
    claimed: dict[str, list[int]] = {}

    def claim(instance: str) -> None:
        try:
            start.wait()
            mine: list[int] = []
            for _ in range(10):
                got, _ = services.claim_pending(client_id="cluster-a", instance=instance, offset=len(mine), limit=10)
                mine.extend(row.pk for row in got)
            claimed[instance] = mine
        finally:
            close_old_connections()

    threads = [threading.Thread(target=claim, args=(f"agent:{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [pk for mine in claimed.values() for pk in mine]
    assert len(claimed) == 8
    assert len(every) == len(set(every)), "a submission was claimed by two instances"
    assert set(every) <= rows
    assert sum(1 for mine in claimed.values() if mine) >= 2  # the work was shared, not taken by one
    left = set(JobSubmission.objects.filter(claimed_by=None).values_list("pk", flat=True))
    assert set(every) | left == rows


class TestSweep:
    def verdicts(self, agent, jobs) -> dict[int, dict]:
        answer = agent.client.post(f"{AGENT}/sweep", {"jobs": jobs}, format="json")
        assert answer.status_code == 200, answer.content
        return {item["slurm_job_id"]: item for item in answer.json()["results"]}

    def test_what_jobbergate_does_not_know_is_cancelled_and_the_rest_kept(self, agent, alice):
        def stamp(row):
            return int(row.created_at.timestamp())

        own = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=10)
        duplicate_of = own
        in_flight = make_submission(alice.email, client_id="cluster-a")
        cancelled = make_submission(alice.email, client_id="cluster-a", status=Status.CANCELLED)
        deleted = make_submission(alice.email, client_id="cluster-a")
        deleted_id, deleted_stamp = deleted.pk, stamp(deleted)
        deleted.delete()
        jobs = [
            {"id": own.pk, "slurm_job_id": 10, "created": stamp(own)},
            {"id": duplicate_of.pk, "slurm_job_id": 11, "created": stamp(own)},
            {"id": in_flight.pk, "slurm_job_id": 12, "created": stamp(in_flight)},
            {"id": cancelled.pk, "slurm_job_id": 13, "created": stamp(cancelled)},
            {"id": deleted_id, "slurm_job_id": 14, "created": deleted_stamp},
            {"id": in_flight.pk, "slurm_job_id": 15, "created": stamp(in_flight) + 3600},  # an older database's
        ]
        found = self.verdicts(agent, jobs)
        assert {job: item["cancel"] for job, item in found.items()} == {
            10: False,
            11: True,
            12: False,
            13: True,
            14: True,
            15: True,
        }
        assert found[11]["owner_email"] == alice.email and "Slurm job 10" in found[11]["reason"]
        assert found[14]["owner_email"] is None and "no longer exists" in found[14]["reason"]

    def test_another_clusters_submissions_are_not_this_agents_to_judge(self, agent, alice):
        theirs = make_submission(alice.email, client_id="cluster-b", status=Status.SUBMITTED, slurm_job_id=20)
        found = self.verdicts(agent, [{"id": theirs.pk, "slurm_job_id": 21}])
        assert found[21]["cancel"] and found[21]["owner_email"] is None  # for cluster-a it does not exist

    def test_a_cancelled_stray_leaves_a_progress_entry(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a", status=Status.CANCELLED)
        report = {"id": row.pk, "slurm_job_id": 30, "report_message": "Slurm job 30 was cancelled: not known"}
        assert agent.client.post(f"{AGENT}/swept", report, format="json").status_code == 202
        assert row.progress.last().additional_info == report["report_message"]
        gone = {**report, "id": row.pk + 1000}
        assert agent.client.post(f"{AGENT}/swept", gone, format="json").status_code == 202

    @pytest.mark.parametrize(
        "body",
        [{"jobs": [{"id": 0, "slurm_job_id": 1}]}, {"jobs": [{"id": 1}]}, {"jobs": "x"}, {}],
    )
    def test_bad_sweeps_are_422(self, agent, body):
        assert agent.client.post(f"{AGENT}/sweep", body, format="json").status_code == 422

    def test_a_person_cannot_sweep(self, alice):
        assert alice.client.post(f"{AGENT}/sweep", {"jobs": []}, format="json").status_code == 403
