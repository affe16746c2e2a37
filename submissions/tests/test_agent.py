"""The agent's side of the API: pending and active work of its cluster only, and its reports, each atomic."""

from __future__ import annotations

import pytest

from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobSubmission
from testkit.factories import make_submission

AGENT = "/jobbergate/job-submissions/agent"
pytestmark = pytest.mark.django_db


def statuses(row: JobSubmission) -> list[str]:
    return [entry.status for entry in row.progress.order_by("timestamp", "id")]


class TestPending:
    def test_the_agent_sees_its_clusters_created_rows_with_their_files(self, agent, alice):
        mine = make_submission(alice.email, client_id="cluster-a", sbatch_arguments=["--time=5"])
        make_submission(alice.email, client_id="cluster-b")
        make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED)
        body = agent.client.get(f"{AGENT}/pending").json()
        assert body["total"] == 1
        item = body["items"][0]
        assert item["id"] == mine.pk and item["owner_email"] == alice.email
        assert item["sbatch_arguments"] == ["--time=5"]
        assert {f["filename"]: f["file_type"] for f in item["job_script"]["files"]} == {
            "job.sh": "ENTRYPOINT",
            "input.txt": "SUPPORT",
        }

    def test_the_agent_downloads_files_of_its_clusters_job_scripts_only(self, agent, alice):
        mine = make_submission(alice.email, client_id="cluster-a")
        other = make_submission(alice.email, client_id="cluster-b")
        assert agent.client.get(f"/jobbergate/job-scripts/{mine.job_script_id}/upload/job.sh").status_code == 200
        assert agent.client.get(f"/jobbergate/job-scripts/{other.job_script_id}/upload/job.sh").status_code == 404

    def test_a_user_token_is_not_an_agent(self, alice):
        response = alice.client.get(f"{AGENT}/pending")
        assert response.status_code == 403
        assert "cluster" in response.json()["detail"]

    def test_the_query_count_does_not_grow_with_the_page(self, agent, alice, django_assert_max_num_queries):
        for _ in range(10):
            make_submission(alice.email, client_id="cluster-a")
        # The token, the count, the claim (the ids locked, then claimed), the rows, their files.
        with django_assert_max_num_queries(6):
            assert agent.client.get(f"{AGENT}/pending").json()["total"] == 10


class TestReports:
    def test_submitted_moves_created_to_submitted_once(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        report = {"id": row.pk, "slurm_job_id": 77, "slurm_job_state": "PENDING", "slurm_job_info": "{}"}
        assert agent.client.post(f"{AGENT}/submitted", report, format="json").status_code == 202
        assert agent.client.post(f"{AGENT}/submitted", report, format="json").status_code == 202
        row.refresh_from_db()
        assert (row.status, row.slurm_job_id, row.slurm_job_state) == (Status.SUBMITTED, 77, "PENDING")
        assert statuses(row).count(Status.SUBMITTED) == 1
        conflict = agent.client.post(f"{AGENT}/submitted", {**report, "slurm_job_id": 78}, format="json")
        assert conflict.status_code == 409

    def test_a_cancelled_row_keeps_cancelled_but_records_the_job(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        never_sent = make_submission(alice.email, client_id="cluster-a")
        assert alice.client.put(f"/jobbergate/job-submissions/cancel/{never_sent.pk}").status_code == 200
        assert alice.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}").status_code == 200
        agent.client.post(f"{AGENT}/submitted", {"id": row.pk, "slurm_job_id": 5}, format="json")
        row.refresh_from_db()
        assert (row.status, row.slurm_job_id) == (Status.CANCELLED, 5)
        active = agent.client.get(f"{AGENT}/active").json()["items"]
        assert active == [
            {
                "id": row.pk,
                "name": row.name,
                "owner_email": alice.email,
                "status": "CANCELLED",
                "slurm_job_id": 5,
                "output_watched": False,
            }
        ]

    def test_many_submitted_reports_in_one_request_each_as_the_single_one(self, agent, alice):
        fresh = make_submission(alice.email, client_id="cluster-a")
        again = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=8)
        clash = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        other = make_submission(alice.email, client_id="cluster-b")
        items = [
            {"id": fresh.pk, "slurm_job_id": 7, "slurm_job_state": "PENDING"},
            {"id": again.pk, "slurm_job_id": 8},
            {"id": clash.pk, "slurm_job_id": 10},
            {"id": other.pk, "slurm_job_id": 11},
        ]
        response = agent.client.post(f"{AGENT}/submitted-many", {"items": items}, format="json")
        assert response.status_code == 200
        assert [(item["id"], item["status_code"]) for item in response.json()["results"]] == [
            (fresh.pk, 202),
            (again.pk, 202),
            (clash.pk, 409),
            (other.pk, 404),
        ]
        fresh.refresh_from_db(), clash.refresh_from_db(), other.refresh_from_db()
        assert (fresh.status, fresh.slurm_job_id) == (Status.SUBMITTED, 7)
        assert statuses(fresh).count(Status.SUBMITTED) == 1
        assert (clash.slurm_job_id, other.status, other.slurm_job_id) == (9, Status.CREATED, None)

    @pytest.mark.parametrize(
        "body",
        [{}, {"items": []}, {"items": [{"id": 1}]}, {"items": "x"}, [{"id": 1, "slurm_job_id": 2}]],
        ids=["no-items", "empty", "no-job-id", "not-a-list", "bare-list"],
    )
    def test_a_bad_batch_is_422_and_changes_nothing(self, agent, alice, body):
        row = make_submission(alice.email, client_id="cluster-a")
        response = agent.client.post(f"{AGENT}/submitted-many", body, format="json")
        assert response.status_code in (400, 422)
        row.refresh_from_db()
        assert row.status == Status.CREATED

    def test_a_batch_larger_than_the_limit_is_refused(self, agent):
        items = [{"id": number, "slurm_job_id": number} for number in range(1, 502)]
        response = agent.client.post(f"{AGENT}/submitted-many", {"items": items}, format="json")
        assert response.status_code == 422

    def test_rejected_records_slurms_message(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        message = "sbatch: error: invalid partition specified: nope"
        response = agent.client.post(f"{AGENT}/rejected", {"id": row.pk, "report_message": message}, format="json")
        assert response.status_code == 202
        row.refresh_from_db()
        assert (row.status, row.report_message) == (Status.REJECTED, message)

    @pytest.mark.parametrize("status", [Status.SUBMITTED, Status.CANCELLED])
    def test_a_job_of_another_user_rejects_the_submission_and_drops_what_was_recorded_of_it(self, agent, bob, status):
        row = make_submission(
            bob.email, client_id="cluster-a", status=status, slurm_job_id=4242, slurm_job_state="RUNNING"
        )
        JobSubmission.objects.filter(pk=row.pk).update(slurm_job_info='{"comment": "not bob\'s"}')
        message = "Slurm job 4242 belongs to another user, not to bob (your account on this cluster)"
        response = agent.client.post(f"{AGENT}/rejected", {"id": row.pk, "report_message": message}, format="json")
        assert response.status_code == 202
        row.refresh_from_db()
        assert (row.status, row.report_message) == (Status.REJECTED, message)
        assert (row.slurm_job_state, row.slurm_job_info) == (None, None)
        assert (row.progress.last().status, row.progress.last().additional_info) == (Status.REJECTED, message)
        assert agent.client.get(f"{AGENT}/active").json()["items"] == []

    @pytest.mark.parametrize("status, job_id", [(Status.DONE, 7), (Status.ABORTED, 7), (Status.CANCELLED, None)])
    def test_an_ended_submission_or_one_without_a_job_cannot_be_rejected(self, agent, alice, status, job_id):
        row = make_submission(alice.email, client_id="cluster-a", status=status, slurm_job_id=job_id)
        response = agent.client.post(f"{AGENT}/rejected", {"id": row.pk, "report_message": "no"}, format="json")
        assert response.status_code == 409
        row.refresh_from_db()
        assert row.status == status

    @pytest.mark.parametrize(
        "state, status",
        [
            ("RUNNING", Status.SUBMITTED),
            ("COMPLETED", Status.DONE),
            ("FAILED", Status.ABORTED),
            ("TIMEOUT", Status.ABORTED),
            ("OUT_OF_MEMORY", Status.ABORTED),
            ("CANCELLED", Status.ABORTED),
        ],
    )
    def test_slurm_states_map_onto_statuses(self, agent, alice, state, status):
        row = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        report = {"slurm_job_state": state, "slurm_job_info": "{}", "slurm_job_state_reason": "exit code 3"}
        assert agent.client.put(f"{AGENT}/{row.pk}", report, format="json").status_code == 202
        row.refresh_from_db()
        assert (row.status, row.slurm_job_state) == (status, state)
        if status == Status.ABORTED:
            assert row.report_message == "exit code 3"
        assert row.progress.last().slurm_job_state == state

    def test_the_same_state_twice_writes_one_progress_entry(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        for _ in range(3):
            agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": "RUNNING"}, format="json")
        assert row.progress.filter(slurm_job_state="RUNNING").count() == 1

    @pytest.mark.parametrize(
        "report, status",
        [({"slurm_job_state": "RUNNING", "slurm_job_id": 10}, 409), ({"slurm_job_state": "SLEEPY"}, 422)],
    )
    def test_bad_reports_are_refused(self, agent, alice, report, status):
        row = make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=9)
        assert agent.client.put(f"{AGENT}/{row.pk}", report, format="json").status_code == status

    @pytest.mark.parametrize(
        "status, state", [(Status.DONE, "COMPLETED"), (Status.ABORTED, "FAILED"), (Status.CANCELLED, "CANCELLED")]
    )
    def test_a_late_report_never_rewrites_how_a_job_ended(self, agent, alice, status, state):
        row = make_submission(alice.email, client_id="cluster-a", status=status, slurm_job_id=9, slurm_job_state=state)
        entries = row.progress.count()
        for late in ("RUNNING", "FAILED" if state != "FAILED" else "COMPLETED"):
            response = agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": late}, format="json")
            assert response.status_code == 409, response.content
            assert f"has ended {status} (Slurm {state})" in response.json()["detail"]
        # The same state again (an agent that retried) is accepted and may add what accounting knows.
        again = {"slurm_job_state": state, "slurm_job_info": '{"exit_code": 0}'}
        assert agent.client.put(f"{AGENT}/{row.pk}", again, format="json").status_code == 202
        row.refresh_from_db()
        assert (row.status, row.slurm_job_state, row.slurm_job_info) == (status, state, '{"exit_code": 0}')
        assert row.progress.count() == entries

    def test_a_created_row_is_reported_with_submitted_first(self, agent, alice):
        """A state report with a job id used to set the id and leave the row CREATED: still pending (so sbatch'ed
        again), refused by agent/submitted, and missing from agent/active."""
        row = make_submission(alice.email, client_id="cluster-a")
        for report in ({"slurm_job_state": "RUNNING", "slurm_job_id": 5}, {"slurm_job_state": "COMPLETED"}):
            response = agent.client.put(f"{AGENT}/{row.pk}", report, format="json")
            assert response.status_code == 409
            assert "agent/submitted first" in response.json()["detail"]
        row.refresh_from_db()
        assert (row.status, row.slurm_job_id, row.slurm_job_state) == (Status.CREATED, None, None)
        assert (
            agent.client.post(f"{AGENT}/submitted", {"id": row.pk, "slurm_job_id": 5}, format="json").status_code == 202
        )

    @pytest.mark.parametrize(
        "status, job_id, message",
        [
            (
                Status.CANCELLED,
                None,
                "was CANCELLED before it had a Slurm job: report a job it got with agent/submitted",
            ),
            (Status.REJECTED, None, "was REJECTED: the state of its job is not tracked"),
            (Status.REJECTED, 9, "was REJECTED: the state of its job is not tracked"),  # a job not the owner's
        ],
    )
    def test_a_row_without_a_tracked_job_takes_no_report(self, agent, alice, status, job_id, message):
        row = make_submission(alice.email, client_id="cluster-a", status=status, slurm_job_id=job_id)
        report = {"slurm_job_state": "RUNNING", "slurm_job_id": job_id or 777}
        response = agent.client.put(f"{AGENT}/{row.pk}", report, format="json")
        assert response.status_code == 409
        assert message in response.json()["detail"]
        row.refresh_from_db()
        assert (row.status, row.slurm_job_id, row.slurm_job_state) == (status, job_id, None)
        assert agent.client.get(f"{AGENT}/active").json()["items"] == []

    def test_a_created_row_a_state_report_gave_a_job_id_is_submitted_by_that_id(self, agent, alice):
        """Before state reports refused CREATED rows, one could set the job id and leave the row CREATED;
        agent/submitted with the same id then changed nothing. It now submits the row."""
        row = make_submission(alice.email, client_id="cluster-a", slurm_job_id=5)
        assert (
            agent.client.post(f"{AGENT}/submitted", {"id": row.pk, "slurm_job_id": 5}, format="json").status_code == 202
        )
        row.refresh_from_db()
        assert (row.status, row.slurm_job_id) == (Status.SUBMITTED, 5)
        assert [item["id"] for item in agent.client.get(f"{AGENT}/active").json()["items"]] == [row.pk]

    def test_a_cancelled_job_that_still_runs_is_reported_until_it_ends(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a", status=Status.CANCELLED, slurm_job_id=9)
        for state in ("RUNNING", "CANCELLED"):
            assert agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": state}, format="json").status_code == 202
        row.refresh_from_db()
        assert (row.status, row.slurm_job_state) == (Status.CANCELLED, "CANCELLED")
        assert agent.client.get(f"{AGENT}/active").json()["items"] == []

    def test_another_clusters_row_is_invisible(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-b")
        response = agent.client.post(f"{AGENT}/submitted", {"id": row.pk, "slurm_job_id": 1}, format="json")
        assert response.status_code == 404
        assert agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": "RUNNING"}, format="json").status_code == 404


class TestUserSide:
    def test_cancel_only_from_created_or_submitted(self, alice, bob):
        row = make_submission(alice.email)
        assert bob.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}").status_code == 404
        assert alice.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}").json()["status"] == "CANCELLED"
        response = alice.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}")
        assert response.status_code == 400
        assert "CANCELLED" in response.json()["detail"]

    def test_the_progress_timeline_is_paginated(self, agent, alice):
        row = make_submission(alice.email, client_id="cluster-a")
        agent.client.post(f"{AGENT}/submitted", {"id": row.pk, "slurm_job_id": 3}, format="json")
        agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": "RUNNING"}, format="json")
        agent.client.put(f"{AGENT}/{row.pk}", {"slurm_job_state": "COMPLETED"}, format="json")
        body = alice.client.get(f"/jobbergate/job-submissions/{row.pk}/progress", {"size": 2}).json()
        assert body["total"] == 3 and body["pages"] == 2
        assert [entry["status"] for entry in body["items"]] == ["SUBMITTED", "SUBMITTED"]
        last = alice.client.get(f"/jobbergate/job-submissions/{row.pk}/progress", {"size": 2, "page": 2}).json()
        assert last["items"][0]["status"] == "DONE"


class TestClusterStatus:
    @pytest.mark.parametrize("path", ["/jobbergate/clusters/status", "/jobbergate/cluster/status"])
    def test_the_heartbeat_makes_a_cluster_healthy(self, agent, carol, path):
        assert agent.client.put(f"{path}?interval=60").status_code == 202
        listed = carol.client.get("/jobbergate/clusters/status").json()
        assert [(c["client_id"], c["interval"], c["is_healthy"]) for c in listed] == [("cluster-a", 60, True)]
        assert carol.client.get("/jobbergate/clusters/status/cluster-a").json()["is_healthy"] is True
        assert carol.client.get("/jobbergate/clusters/status/nowhere").status_code == 404

    def test_the_heartbeat_needs_an_interval_and_a_cluster(self, agent, alice):
        assert agent.client.put("/jobbergate/clusters/status").status_code == 400
        assert alice.client.put("/jobbergate/clusters/status?interval=5").status_code == 403
