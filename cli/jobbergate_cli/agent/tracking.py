"""Tracking: the jobs of active submissions, followed until they end, their states reported (``Tracking``, mixed into
``Agent``), and the sweep of jobs Jobbergate does not know.

``tracked_jobs``: the first time the agent sees a submission's job, the job must be the owner's (``owners_jobs``); an
ended job's final state comes from accounting, else the controller (``final_states``). ``track``: a cancelled
submission's job is scancel-ed as its owner; each new state is reported once (``report_state``). ``sweep``: at start and
every ``SWEEP_EVERY`` cycles, the live jobs carrying a marker of this cluster go to the server, which names those it
does not know; they are cancelled as their owner (``cancel_stray``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from jobbergate_cli.agent import api
from jobbergate_cli.agent.base import AgentBase
from jobbergate_cli.client import ApiError
from jobbergate_cli.slurm import Account, JobState, tagged

log = logging.getLogger("jobbergate.agent")

SWEEP_EVERY = 10  # cycles between two sweeps for jobs Jobbergate does not know (and one at start)
SWEEP_BATCH = 1000  # marked jobs per sweep request


@dataclass(frozen=True)
class Tracked:
    """What one cycle tracks: the active submissions whose job is their owner's (``rows``), the final states of
    the jobs that ended (``final``, by job id) and the jobs the controller no longer runs (``ended``)."""

    rows: list[dict]
    final: dict[int, JobState]
    ended: list[int]

    @property
    def finished(self) -> set[int]:
        """The jobs whose final state is known: their output is complete."""
        return set(self.final)


@dataclass
class Tracking(AgentBase):
    # (submission id, job id) whose job is not the owner's own account's (see ``verified``): never reported nor
    # cancelled.
    foreign: set[tuple[int, int]] = field(default_factory=set)
    # Whether the server judges marked jobs (None: not known yet; upstream servers cannot); cycles since a sweep.
    can_sweep: bool | None = None
    cycles_since_sweep: int = SWEEP_EVERY

    def tracked_jobs(self, queue: dict[int, JobState]) -> Tracked:
        """The cluster's active submissions whose job is their owner's, and the final states of the jobs that
        ended (from accounting, else the controller)."""
        active = [
            row for row in api.active(self.client, self.settings.page_size) if row.get("slurm_job_id") is not None
        ]
        current = {(row["id"], row["slurm_job_id"]) for row in active}
        self.verified &= current  # what left the active list needs no memory
        self.foreign &= current
        if not active:
            return Tracked([], {}, [])
        # A job the controller no longer holds has ended too.
        jobs = [row["slurm_job_id"] for row in active]
        ended = [job for job in jobs if job not in queue or queue[job].finished]
        final = self.final_states(ended, queue)
        return Tracked(self.owners_jobs(active, queue, final), final, ended)

    def track(self, tracked: Tracked, queue: dict[int, JobState]) -> None:
        """Cancel the jobs of cancelled submissions (as their owner) and report each new state once."""
        to_cancel: dict[Account, list[int]] = {}
        for row in tracked.rows:
            if row["status"] == "CANCELLED" and row["slurm_job_id"] not in tracked.ended:
                try:
                    to_cancel.setdefault(self.account_of(row), []).append(row["slurm_job_id"])
                except LookupError as error:
                    log.warning(
                        "submission %s: Slurm job %s is not cancelled: %s", row["id"], row["slurm_job_id"], error
                    )
        for account, job_ids in to_cancel.items():
            log.info("cancelling Slurm jobs %s as %s", ", ".join(map(str, job_ids)), account.name)
            refused = self.slurm.cancel(job_ids, account=account)
            if refused:
                log.warning("scancel as %s refused some of Slurm jobs %s: %s", account.name, job_ids, refused)
        for row in tracked.rows:
            job_id = row["slurm_job_id"]
            state = tracked.final.get(job_id) or queue.get(job_id)
            if state is None or (job_id in tracked.ended and job_id not in tracked.final):
                continue  # gone from the controller, not yet in accounting: look again next cycle
            if row["status"] == "CANCELLED" and not state.finished:
                continue  # scancel is on its way; report once it has ended
            self.report_state(row["id"], state)

    def owners_jobs(self, active: list[dict], queue: dict[int, JobState], final: dict[int, JobState]) -> list[dict]:
        """The active submissions whose Slurm job is their owner's own; the others are rejected.

        Checked the first time the agent sees each submission's job: the job's Slurm user must be the account the
        owner maps to. A job id registered on-site may name anyone's job; such a submission is rejected without a
        word of the job (not even whose it is), and the agent never reports or cancels that job.
        """
        owned = []
        for row in active:
            job_id = row["slurm_job_id"]
            key = (row["id"], job_id)
            if key in self.foreign:
                continue
            if key not in self.verified:
                state = queue.get(job_id) or final.get(job_id)
                if state is None:
                    continue  # in neither the controller nor accounting yet: look again next cycle
                refusal = self._not_owners(row, state)
                if refusal:
                    self._reject_foreign(row, refusal)
                    continue
                self.verified.add(key)
            owned.append(row)
        return owned

    def _reject_foreign(self, row: dict, message: str) -> None:
        self.reject(row["id"], message, self.client)
        self.foreign.add((row["id"], row["slurm_job_id"]))

    def final_states(self, job_ids: list[int], queue: dict[int, JobState]) -> dict[int, JobState]:
        """Final states of jobs that ended: from accounting; from the controller when there is none."""
        if not job_ids:
            return {}
        if self.slurm.accounting is not False:
            accounted = self.slurm.accounted(job_ids)
            if accounted is not None:
                return {job: state for job, state in accounted.items() if state.finished}
            log.warning("no accounting on this cluster: final states come from the controller (scontrol)")
        states = {}
        for job_id in job_ids:
            state = queue.get(job_id) or self.slurm.controller_state(job_id)
            if state is None:
                state = JobState(job_id, "UNKNOWN", reason="left the controller, and there is no accounting")
            if state.finished:
                states[job_id] = state
        return states

    def report_state(self, submission_id: int, state: JobState) -> None:
        if self.reported.get(submission_id) == state.state:
            return
        try:
            api.update(self.client, submission_id, state)
        except ApiError as error:
            if error.status in (400, 404, 409, 422):
                log.warning("submission %s: the API refused state %s: %s", submission_id, state.state, error)
                self.reported[submission_id] = state.state
                return
            raise
        self.reported[submission_id] = state.state
        log.info("submission %s: Slurm job %s is %s", submission_id, state.job_id, state.state)

    def sweep(self, queue: dict[int, JobState]) -> None:
        """At start and every few cycles: cancel the live jobs carrying a marker of this cluster that Jobbergate does
        not know (their submission was deleted, cancelled or rejected before it took them, or has another job).

        The server judges; the agent acts only on a job whose Slurm user is the owner's account (a comment is
        anyone's to write), or for a deleted submission the job's own user (never a system account), and runs
        scancel as that account, so Slurm itself refuses anyone else's job."""
        self.cycles_since_sweep += 1
        if self.can_sweep is False or self.cycles_since_sweep < SWEEP_EVERY:
            return
        self.cycles_since_sweep = 0
        live = [state for state in queue.values() if not state.finished]
        # One entry per job sbatch made: the running tasks of an array (or the parts of a heterogeneous job) carry
        # the marker under ids of their own, and are judged, and cancelled, as the job the API recorded.
        marked = {
            state.submitted_id: (key, state)
            for key, states in tagged(live).items()
            if key[0] == self.cluster
            for state in states
        }
        jobs = [(key[1], job_id, key[2]) for job_id, (key, _) in marked.items()]
        for start in range(0, len(jobs), SWEEP_BATCH):
            try:
                answer = api.sweep(self.client, jobs[start : start + SWEEP_BATCH])
            except ApiError as error:
                if error.status in (404, 405):
                    log.info("the API cannot judge marked jobs (an upstream server): no sweeps")
                    self.can_sweep = False
                    return
                raise
            self.can_sweep = True
            for verdict in answer.get("results", []):
                found = marked.get(verdict.get("slurm_job_id"))
                if verdict.get("cancel") and found is not None:
                    self.cancel_stray(verdict, found[1])

    def cancel_stray(self, verdict: dict, state: JobState) -> None:
        submission_id, job_id = verdict["id"], state.submitted_id
        try:
            if verdict.get("owner_email"):
                account = self.account_of({"owner_email": verdict["owner_email"]})
            else:  # the submission is gone: the job's own user, who must be a person
                account = self.job_user(state)
        except LookupError as error:
            log.warning("Slurm job %s (submission %s) is not cancelled: %s", job_id, submission_id, error)
            return
        if state.owned_by(account) is not True:
            log.info("Slurm job %s carries submission %s's marker but is not its owner's: left", job_id, submission_id)
            return
        message = f"Slurm job {job_id} was cancelled: Jobbergate does not know it ({verdict.get('reason')})"
        self.cancel_unknown(submission_id, job_id, account, message)

    def job_user(self, state: JobState) -> Account:
        """The account a job runs as, when it is a person's (LookupError otherwise)."""
        if state.user_name:
            account = Account.named(state.user_name)
        elif state.user_id is not None:
            account = Account.with_uid(state.user_id)
        else:
            raise LookupError("Slurm does not say whose job it is")
        if account.uid < self.settings.minimum_uid:
            raise LookupError(f"it runs as a system account ({account.name})")
        return account
