"""The cluster agent: submits its cluster's new submissions to Slurm and reports their jobs' states back.

One cycle, every few seconds:

1. heartbeat (``PUT /clusters/status``);
2. pending submissions, all pages, each claimed for this agent process (the server gives a submission to one agent
   instance at a time; ``X-Jobbergate-Agent-Instance`` names the process); then one ``squeue --json`` for every job
   the controller holds. A submission whose job is already in Slurm (a job of the owner's account whose comment is
   its marker, in squeue or, for jobs already purged, in one ``sacct`` call) is reported, never submitted again;
   the others are written to their execution directory as the mapped user (never a system account: see
   ``map_owner``; each file whole, through a temporary name) and sent with ``sbatch --parsable`` as that user,
   unless their claim is about to run out. Whatever is wrong with one submission (its owner, its files, its sbatch
   arguments) rejects that submission only; the cycle goes on for the others. A job id the API refuses (the
   submission has another job, was deleted or moved on) gets its job cancelled at once;
4. active submissions: the first time the agent sees a submission's job, the job's Slurm user must be the account
   the owner maps to, or the submission is rejected and nothing of the job is reported or cancelled (a job id given
   on-site may be anyone's); cancelled ones are ``scancel``-ed as their owner's account, one call per account, so
   Slurm itself refuses another user's job; a job that ended is looked up in accounting (one ``sacct`` call for all
   of them) for its final state, exit code and reason; ``scontrol`` when there is no accounting;
5. at start and every ``SWEEP_EVERY`` cycles, the sweep: live jobs carrying a marker of this cluster are sent to
   the server, which names those Jobbergate does not know (see ``sweep``); they are cancelled as their owner.

A failure of the API or of Slurm is logged in one line and retried on the next cycle (with a growing pause); a job id
the API could not take is kept and reported first on the next cycle, and the marker covers a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from jobbergate_cli.agent import api
from jobbergate_cli.agent.mappers import Mapper, load_mapper
from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.slurm import (
    Account,
    JobState,
    SbatchRejected,
    Slurm,
    SlurmError,
    marker,
    stamp,
    tagged,
)
from jobbergate_cli.tokens import SignInError, access_token, claims

log = logging.getLogger("jobbergate.agent")

MAX_PAUSE = 300.0
REPORT_BATCH = 100  # job ids per submitted-many request
SWEEP_EVERY = 10  # cycles between two sweeps for jobs Jobbergate does not know (and one at start)
SWEEP_BATCH = 1000  # marked jobs per sweep request


class CycleFailed(Exception):
    """A cycle could not finish (the API or Slurm is down); nothing is lost, the next cycle tries again."""


@contextmanager
def acting_as(account: Account) -> Iterator[None]:
    """File operations as ``account`` (root switches its effective ids; anyone else already is the account)."""
    if os.geteuid() != 0 or account.uid == 0:
        yield
        return
    saved_groups = os.getgroups()
    os.setgroups(account.groups())
    os.setegid(account.gid)
    os.seteuid(account.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(saved_groups)


@dataclass
class PreparedJob:
    """A pending submission ready for sbatch: who runs it, where, and its files."""

    row: dict
    account: Account
    directory: Path
    files: dict[str, bytes]
    entrypoint: str


@dataclass
class Agent:
    settings: AgentSettings
    client: ApiClient
    slurm: Slurm
    mapper: Mapper
    cluster: str
    # Job ids sbatch gave that the API has not taken yet: reported first on the next cycle.
    unreported: dict[int, int] = field(default_factory=dict)
    # The last state reported per submission, so an unchanged state is not sent again.
    reported: dict[int, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    # Job files fetched in this cycle: (job script id, file name) -> content.
    file_cache: dict[tuple, bytes] = field(default_factory=dict)
    # Owners mapped in this cycle: e-mail -> account (or the LookupError that refused it).
    account_cache: dict[str, Account | LookupError] = field(default_factory=dict)
    # (submission id, job id) whose job is the owner's own account's, checked once per agent run...
    verified: set[tuple[int, int]] = field(default_factory=set)
    # ...and those whose job is not: never reported nor cancelled.
    foreign: set[tuple[int, int]] = field(default_factory=set)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    # Whether the API takes many reports at once (None: not known yet; upstream servers do not).
    batch_reports: bool | None = None
    # This process's name for its claims (the server hands each pending submission to one instance at a time).
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)
    identity_file: IO | None = field(default=None, repr=False)  # held (and locked) while the agent lives
    # Jobs this agent made whose id the API has not taken: submission id -> (job id, account), to cancel the job
    # when the API refuses it (the submission has another job, was deleted or moved on).
    made: dict[int, tuple[int, Account]] = field(default_factory=dict)
    # When this cycle's claims were taken and when each ends (time.monotonic()); none from a server without claims
    # (upstream).
    claimed_at: float = 0.0
    claim_expiry: dict[int, float] = field(default_factory=dict)
    # Whether the server judges marked jobs (None: not known yet; upstream servers cannot); cycles since a sweep.
    can_sweep: bool | None = None
    cycles_since_sweep: int = SWEEP_EVERY

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> Agent:
        token_settings = settings.client_settings()
        instance, identity_file = instance_identity(Path(settings.cache_dir))
        client = ApiClient(
            base_url=settings.base_api_url or "",
            token=lambda: access_token(token_settings),
            timeout=settings.request_timeout,
            retries=0,
        )
        client.session.headers[api.INSTANCE_HEADER] = instance
        return cls(
            settings=settings,
            client=client,
            instance=instance,
            identity_file=identity_file,
            slurm=Slurm(
                sbatch=settings.sbatch_path,
                squeue=settings.squeue_path,
                sacct=settings.sacct_path,
                scontrol=settings.scontrol_path,
                scancel=settings.scancel_path,
                timeout=settings.slurm_timeout,
            ),
            mapper=load_mapper(settings),
            cluster=cluster_name(settings),
        )

    # The loop ----------------------------------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> int:
        """Cycle until stopped (or once); 0 when the last cycle went through, 1 otherwise."""
        failures = 0
        settings = self.settings
        log.info("agent of cluster %s: %s, every %g s", self.cluster, settings.base_api_url, settings.interval)
        while True:
            started = time.monotonic()
            try:
                self.cycle()
                failures = 0
            except CycleFailed as error:
                failures += 1
                log.warning("cycle failed (%d in a row): %s", failures, error)
            except Exception:  # a bug: say where, keep serving the cluster
                failures += 1
                log.exception("cycle failed (%d in a row) on an unexpected error", failures)
            if once or self.stop.is_set():
                return 0 if failures == 0 else 1
            if failures == 0:  # cycles start an interval apart (a long cycle is followed at once by the next)
                pause = max(0.0, self.settings.interval - (time.monotonic() - started))
            else:
                pause = min(self.settings.interval * 2**failures, MAX_PAUSE)
            if self.stop.wait(pause):
                return 0 if failures == 0 else 1

    def cycle(self) -> None:
        """One pass over the cluster's work. Raises CycleFailed when the API or Slurm could not be reached."""
        self.file_cache.clear()
        self.account_cache.clear()
        try:
            self.heartbeat()
            self.report_unreported()
            queue = self.submit_pending()
            self.track_active(queue)
            self.sweep(queue)
        except ApiError as error:
            raise CycleFailed(f"API: {error}") from None
        except SignInError as error:
            raise CycleFailed(f"sign-in: {error}") from None
        except SlurmError as error:
            raise CycleFailed(f"Slurm: {error}") from None

    def heartbeat(self) -> None:
        # The server calls the cluster unhealthy when no report comes within this many seconds: allow a few cycles
        # (a cycle that submits hundreds of jobs takes longer than the pause between cycles).
        api.cluster_status(self.client, max(30, round(3 * self.settings.interval)))

    # Submitting --------------------------------------------------------------------------------------------------

    def report_unreported(self) -> None:
        """Report the job ids the API did not take before (raises ApiError while it still cannot)."""
        pending = list(self.unreported.items())
        for start in range(0, len(pending), REPORT_BATCH):
            self.report_many(pending[start : start + REPORT_BATCH])

    def report_many(self, reports: list[tuple[int, int]]) -> None:
        """Report (submission id, job id) pairs in one request (``submitted-many``), or one by one against a server
        without it (upstream Jobbergate). Pairs the API could not take stay in ``unreported``."""
        if not reports:
            return
        self.unreported.update(reports)
        if self.batch_reports is not False:
            try:
                answer = api.submitted_many(self.client, reports)
            except ApiError as error:
                if error.status not in (404, 405):
                    raise
                log.info("the API has no submitted-many: reporting job ids one by one")
                self.batch_reports = False
            else:
                self.batch_reports = True
                for result in answer.get("results", []):
                    submission_id = result.get("id")
                    job_id = self.unreported.pop(submission_id, None)
                    if result.get("status_code") == 202:
                        self.made.pop(submission_id, None)
                        self.reported[submission_id] = api.NEW_JOB_STATE
                    else:
                        self.refused(submission_id, job_id, str(result.get("detail")))
                return
        for submission_id, job_id in reports:
            self._report_submitted(submission_id, job_id)

    def _report_submitted(
        self, submission_id: int, job_id: int, state: JobState | None = None, *, client: ApiClient | None = None
    ) -> None:
        self.unreported[submission_id] = job_id
        try:
            reported_state = api.submitted(client or self.client, submission_id, job_id, state)
        except ApiError as error:
            if error.status in (404, 409):  # deleted meanwhile, or it has another job or moved on
                self.unreported.pop(submission_id, None)
                self.refused(submission_id, job_id, str(error), client=client)
                return
            raise
        self.unreported.pop(submission_id, None)
        self.made.pop(submission_id, None)
        self.reported[submission_id] = reported_state

    def refused(self, submission_id: int, job_id: int | None, why: str, *, client: ApiClient | None = None) -> None:
        """The API would not take a job id for a submission (it has another job, was deleted, or moved on): a job
        this agent made is cancelled at once, so no job runs that Jobbergate does not know; one it found by its
        marker is left to the sweep, which checks whose it is first."""
        made = self.made.pop(submission_id, None)
        if made is None or job_id is None or made[0] != job_id:
            log.warning("submission %s: the API did not take Slurm job %s: %s", submission_id, job_id, why)
            return
        message = f"Slurm job {job_id} was cancelled: the API did not take it ({why})"
        self.cancel_unknown(submission_id, job_id, made[1], message, client=client)

    def sbatch_deadline(self, submission_id: int) -> float:
        """The last moment an sbatch may start under a claim: far enough from its end that sbatch (which may take up
        to the Slurm timeout) has answered, and been reported, before another agent can claim the submission; at
        least the last quarter of the claim is kept free."""
        ends = self.claim_expiry[submission_id]
        return ends - max(self.settings.slurm_timeout + 5, 0.25 * (ends - self.claimed_at))

    def submit_pending(self) -> dict[int, JobState]:
        """Send every pending submission to Slurm (or report the job it already has); Slurm's queue after that.

        Asking for pending work claims it: the server hands each submission to one agent instance at a time. Under
        the claim, right before sbatch, the agent looks for a job already carrying the submission's marker (in
        ``squeue``, then ``sacct``): the second line of defence, for a claim that ran out while its agent was still
        at work, or an agent killed after sbatch. No sbatch starts later than the Slurm timeout + 5 s, or the last
        quarter of the claim, before the claim's end (it waits for the next cycle), so a claim does not run out while
        its sbatch runs.

        In waves: the files of a wave are written one submission after the other (as each owner, which switches
        this process's ids), then ``submit_workers`` threads run sbatch and report the job ids, so Slurm and the
        API work side by side. A submission whose files would overwrite a different file of another submission in
        the same wave (same folder and name, other content) waits for the next wave, so each job gets its own.
        """
        pending = [row for row in api.pending(self.client, self.settings.page_size) if row["id"] not in self.unreported]
        asked = time.monotonic()
        # Each claim's end, and the last moment an sbatch may start under it: far enough from the end that sbatch
        # (which may take up to the Slurm timeout) has answered, and been reported, before another agent can
        # claim the submission; at least the last quarter of the claim.
        self.claimed_at = asked
        self.claim_expiry = {
            row["id"]: asked + float(row["claim_seconds_left"])
            for row in pending
            if isinstance(row.get("claim_seconds_left"), (int, float))
        }
        if pending and self.claim_expiry and all(self.sbatch_deadline(key) <= asked for key in self.claim_expiry):
            log.warning(
                "the server's claims (%.0f s) are too short for this agent's Slurm timeout (%g s): nothing can be "
                "submitted; raise JOBBERGATE_AGENT_CLAIM_SECONDS on the server or lower JOBBERGATE_AGENT_SLURM_TIMEOUT",
                min(self.claim_expiry.values()) - asked,
                self.settings.slurm_timeout,
            )
        queue = self.slurm.queue()  # after the claim: what other agents submitted until now is in it
        if not pending:
            return queue
        existing = self._existing_jobs(pending, queue)
        waiting = []
        for row in pending:
            found = existing.get(row["id"])
            if found is not None:
                job_id = found.submitted_id
                log.info("submission %s is already Slurm job %s: reporting it, not submitting again", row["id"], job_id)
                self._report_submitted(row["id"], job_id, queue.get(job_id))
                self.verified.add((row["id"], job_id))
                continue
            ready = self.prepare(row)
            if ready is not None:
                waiting.append(ready)
        while waiting and not self.stop.is_set():
            wave, later = [], []
            claimed: dict[tuple[Path, str], bytes] = {}
            for job in waiting:
                places = {(job.directory, name): content for name, content in job.files.items()}
                if any(claimed.get(place, content) != content for place, content in places.items()):
                    later.append(job)
                    continue
                claimed.update(places)
                wave.append(job)
            written = [job for job in wave if self.place_files(job)]
            self.submit_prepared(written)
            waiting = later
        return self.slurm.queue()  # the jobs just submitted, so they are not taken for ended ones

    def prepare(self, row: dict) -> PreparedJob | None:
        """Map the owner, pick the folder and fetch the files; None (and the submission rejected) when refused."""
        try:
            account = self.account_of(row)
            if os.geteuid() != 0 and account.uid != os.geteuid():
                raise LookupError(
                    f"The agent runs as uid {os.geteuid()} and cannot submit as {account.name}: "
                    "run it as root, or use single-user-mapper"
                )
            directory = Path(
                row.get("execution_directory") or self.settings.default_slurm_work_dir or account.home
            ).expanduser()
            if not directory.is_absolute():
                raise JobFilesError(f"The execution directory must be an absolute path, not {str(directory)!r}")
            files, entrypoint = self.job_files(row)
        except (LookupError, JobFilesError) as error:
            self.reject(row["id"], str(error), self.client)
            return None
        except JobFilesLater as error:
            log.warning("submission %s waits for the next cycle: %s", row["id"], error)
            return None
        return PreparedJob(row, account, directory, files, entrypoint)

    def account_of(self, row: dict) -> Account:
        """The account a submission's owner maps to, once per cycle per owner (LookupError when there is none)."""
        email = row.get("owner_email") or ""
        if email not in self.account_cache:
            try:
                self.account_cache[email] = self.map_owner(email)
            except LookupError as error:
                self.account_cache[email] = error
        found = self.account_cache[email]
        if isinstance(found, LookupError):
            raise found
        return found

    def _is_owners(self, row: dict, state: JobState) -> bool:
        """Whether a job carrying the submission's marker is its owner's (a comment is anyone's to write)."""
        refusal = self._not_owners(row, state)
        if refusal:
            log.warning("submission %s: the job carrying its marker is ignored: %s", row["id"], refusal)
        return refusal is None

    def map_owner(self, email: str) -> Account:
        """The owner's account; LookupError rejects the submission, any other failure of a site's mapper (its LDAP
        is down...) fails the cycle, to be tried again.

        Whatever the mapper, the account must be a user's, not a system account (root, daemon...): its uid is at
        least ``min_uid`` (JOBBERGATE_AGENT_MIN_UID, 1000 by default, as login.defs' UID_MIN)."""
        try:
            account = self.mapper(email)
        except LookupError:
            raise
        except Exception as error:
            raise CycleFailed(f"the user mapper failed: {error}") from None
        if account.uid < self.settings.minimum_uid:
            raise LookupError(
                f"{email} maps to a system account on this cluster ({account.name}, uid {account.uid}; user "
                f"accounts start at uid {self.settings.minimum_uid}): Jobbergate does not run jobs as it"
            )
        return account

    def submit_prepared(self, prepared: list[PreparedJob]) -> None:
        if not prepared:
            return
        workers = max(1, min(int(self.settings.submit_workers), len(prepared)))
        failures, ready = [], []
        with ThreadPoolExecutor(workers, thread_name_prefix="sbatch") as pool:
            # The threads run sbatch; this thread reports their job ids a batch at a time meanwhile.
            for outcome in as_completed([pool.submit(self._sbatch, job) for job in prepared]):
                failure, report = outcome.result()
                if failure:
                    failures.append(failure)
                if report:
                    ready.append(report)
                if len(ready) >= REPORT_BATCH:
                    failures.extend(self._try_report(ready))
                    ready = []
        failures.extend(self._try_report(ready))
        if failures:
            raise CycleFailed(f"{len(failures)} of {len(prepared)} submissions wait for the next cycle: {failures[0]}")

    def _try_report(self, ready: list[tuple[int, int]]) -> list[str]:
        try:
            self.report_many(ready)
        except ApiError as error:
            return [f"API: {error} ({len(ready)} Slurm job ids are kept and reported on the next cycle)"]
        return []

    def _sbatch(self, job: PreparedJob) -> tuple[str | None, tuple[int, int] | None]:
        """sbatch one prepared submission (in a worker thread): what went wrong, and (submission id, job id)."""
        row, account = job.row, job.account
        submission_id = row["id"]
        if self.stop.is_set():
            return None, None
        if submission_id in self.claim_expiry and time.monotonic() > self.sbatch_deadline(submission_id):
            log.warning("submission %s waits for the next cycle: its claim is about to run out", submission_id)
            return None, None
        client = self._thread_client()
        try:
            job_id = self.slurm.submit(
                job.directory / job.entrypoint,
                account=account,
                arguments=row.get("sbatch_arguments") or [],
                tag=marker(self.cluster, submission_id, row.get("created_at")),
            )
        except SbatchRejected as error:
            try:
                self.reject(submission_id, str(error), client)
            except ApiError as api_error:
                return f"API: {api_error}", None
            return None, None
        except SlurmError as error:
            return f"Slurm: {error}", None
        log.info("submission %s is Slurm job %s (as %s)", submission_id, job_id, account.name)
        self.made[submission_id] = (job_id, account)
        self.unreported[submission_id] = job_id  # kept until the API has it, whatever happens next
        return None, (submission_id, job_id)

    def reject(self, submission_id: int, message: str, client: ApiClient) -> None:
        """Reject one submission; one the API no longer has as pending or active (deleted, or its state moved on
        meanwhile) is logged and left, never a failure of the cycle."""
        expiry = self.claim_expiry.get(submission_id)
        if expiry is not None and time.monotonic() > expiry:
            # Another agent may hold the submission now, and may have submitted it: a rejection from here would
            # mark its good job REJECTED. The next claim looks at it afresh.
            log.warning("submission %s not rejected (its claim ran out meanwhile): %s", submission_id, message)
            return
        log.info("submission %s rejected: %s", submission_id, message)
        try:
            api.rejected(client, submission_id, message)
        except ApiError as error:
            if api.unavailable(error) or error.status >= 500:
                raise
            log.warning("submission %s: the API did not take its rejection: %s", submission_id, error)

    def _thread_client(self) -> ApiClient:
        """An API session per thread (the main thread's own client in the main thread)."""
        if threading.current_thread() is threading.main_thread():
            return self.client
        client = getattr(self._local, "client", None)
        if client is None:
            client = ApiClient(
                base_url=self.client.base_url, token=self.client.token, timeout=self.client.timeout, retries=0
            )
            self._local.client = client
        return client

    def _existing_jobs(self, pending: list[dict], queue: dict[int, JobState]) -> dict[int, JobState]:
        """Submission id -> the job Slurm already has for a pending submission (a restarted agent): a job whose
        comment is the submission's marker and whose Slurm user is the owner's account (anyone can write a comment,
        so the jobs of other users carrying the marker are passed over)."""
        wanted = {(self.cluster, row["id"], stamp(row.get("created_at"))): row for row in pending}
        found: dict[int, JobState] = {}

        def take(states: Iterable[JobState]) -> None:
            for key, jobs in tagged(states).items():
                row = wanted.get(key)
                if row is None or row["id"] in found:
                    continue
                owners = [job for job in jobs if self._is_owners(row, job)]
                if owners:
                    found[row["id"]] = owners[0]

        take(queue.values())
        missing = [row for row in pending if row["id"] not in found]
        if not missing or self.slurm.accounting is False:
            return found
        since = self._lookback(missing)
        accounted = self.slurm.accounted(since=since)
        if accounted is None:
            log.warning("no accounting on this cluster: jobs already purged from the controller cannot be found")
            return found
        take(state for state in accounted.values() if state.job_id not in queue)  # each job looked at once
        return found

    def _lookback(self, rows: list[dict]) -> str:
        """sacct's -S, in local time: a little before the oldest submission was created (a job cannot be older);
        a week back when the API gives no creation times (an upstream server)."""
        created = [second for second in (stamp(row.get("created_at")) for row in rows) if second]
        since = min(created) - self.settings.sacct_lookback_seconds if created else time.time() - 7 * 86400
        return datetime.fromtimestamp(since).strftime("%Y-%m-%dT%H:%M:%S")

    def job_files(self, row: dict) -> tuple[dict[str, bytes], str]:
        """The job script's files (name -> content) and the entrypoint's name."""
        job_script = row.get("job_script") or {}
        files = job_script.get("files") or []
        entrypoints = [item for item in files if item.get("file_type") == "ENTRYPOINT"]
        if len(entrypoints) != 1:
            raise JobFilesError(f"Job script {row.get('job_script_id')} has no single ENTRYPOINT file")
        contents = {}
        for item in files:
            name = item["filename"]
            if "/" in name or name in ("", ".", "..") or "\0" in name:
                raise JobFilesError(f"Unsafe job file name {name!r}")
            contents[name] = self.job_file(job_script.get("id"), name)
        return contents, entrypoints[0]["filename"]

    def place_files(self, job: PreparedJob) -> bool:
        """Write the job's files into its folder as its owner; False (and the submission rejected) on failure."""
        try:
            with acting_as(job.account):
                if not job.directory.is_dir():
                    raise NotADirectoryError(0, "not a directory")
                for name, content in job.files.items():
                    write_whole(job.directory / name, content)
        except OSError as error:
            message = f"Cannot write the job files in {job.directory} as {job.account.name}: {error.strerror}"
            self.reject(job.row["id"], message, self.client)
            return False
        return True

    def job_file(self, job_script_id, name: str) -> bytes:
        """A job script's file, fetched once per cycle however many submissions run that job script."""
        key = (job_script_id, name)
        if key not in self.file_cache:
            try:
                content = api.job_file(self.client, job_script_id, name)
            except ApiError as error:
                if api.unavailable(error):
                    raise
                if error.status >= 500:  # may pass; this submission waits, the others go on
                    raise JobFilesLater(f"the job file {name!r} could not be fetched: {error}") from None
                raise JobFilesError(f"The job file {name!r} cannot be read: {error}") from None
            self.file_cache[key] = content
        return self.file_cache[key]

    # Sweeping ----------------------------------------------------------------------------------------------------

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

    def cancel_unknown(
        self, submission_id: int, job_id: int, account: Account, message: str, *, client: ApiClient | None = None
    ) -> None:
        """scancel a job Jobbergate does not know, as ``account``; say so in the log and on the submission."""
        refusal = self.slurm.cancel([job_id], account=account)
        if refusal:
            log.warning("submission %s: scancel %s as %s failed: %s", submission_id, job_id, account.name, refusal)
            return
        log.warning("submission %s: %s", submission_id, message)
        self.record_swept(submission_id, job_id, message, client=client)

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

    def record_swept(self, submission_id: int, job_id: int, message: str, *, client: ApiClient | None = None) -> None:
        """A progress entry on the submission saying which job was cancelled (best effort: the log has it too)."""
        try:
            api.swept(client or self.client, submission_id, job_id, message)
        except ApiError as error:
            if error.status not in (404, 405):
                log.warning(
                    "submission %s: the API did not record the cancelled job %s: %s", submission_id, job_id, error
                )

    # Tracking ----------------------------------------------------------------------------------------------------

    def track_active(self, queue: dict[int, JobState]) -> None:
        active = [
            row for row in api.active(self.client, self.settings.page_size) if row.get("slurm_job_id") is not None
        ]
        current = {(row["id"], row["slurm_job_id"]) for row in active}
        self.verified &= current  # what left the active list needs no memory
        self.foreign &= current
        if not active:
            return
        # A job the controller no longer holds has ended too.
        jobs = [row["slurm_job_id"] for row in active]
        ended = [job for job in jobs if job not in queue or queue[job].finished]
        final = self.final_states(ended, queue)
        active = self.owners_jobs(active, queue, final)
        to_cancel: dict[Account, list[int]] = {}
        for row in active:
            if row["status"] == "CANCELLED" and row["slurm_job_id"] not in ended:
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
        for row in active:
            job_id = row["slurm_job_id"]
            state = final.get(job_id) or queue.get(job_id)
            if state is None or (job_id in ended and job_id not in final):
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

    def _not_owners(self, row: dict, state: JobState) -> str | None:
        """Why the agent will not act on this job for this submission; None when the job is the owner's."""
        try:
            account = self.account_of(row)
        except LookupError as error:
            return f"Slurm job {state.job_id} cannot be checked: {error}"
        owned = state.owned_by(account)
        if owned is None:
            return f"Slurm job {state.job_id} cannot be checked: Slurm no longer says whose job it is"
        if not owned:
            return (
                f"Slurm job {state.job_id} belongs to another user, not to {account.name} (your account on this "
                "cluster): Jobbergate neither reports nor cancels it"
            )
        return None

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


def cluster_name(settings: AgentSettings) -> str:
    """The cluster an agent serves: its token's client id (checked against the setting when both are given)."""
    named = settings.cluster_name
    client_id = None
    if settings.token:
        found = claims(settings.token)
        client_id = found.get("azp") or found.get("client_id")
    elif settings.oidc_client_id:
        client_id = settings.oidc_client_id
    if named and client_id and named != client_id:
        raise SignInError(f"The token is cluster {client_id!r}, not {named!r}: use that cluster's credentials")
    if not (named or client_id):
        raise SignInError(
            "No cluster credentials: set JOBBERGATE_AGENT_TOKEN (manage.py create_api_token --cluster NAME) "
            "or JOBBERGATE_AGENT_OIDC_CLIENT_ID and JOBBERGATE_AGENT_OIDC_CLIENT_SECRET"
        )
    return str(named or client_id)


def instance_identity(cache_dir: Path) -> tuple[str, IO | None]:
    """The name this agent process gives its claims: kept in ``CACHE_DIR/agent-instance``, so an agent restarted on
    the same host (after a crash, a kill, an upgrade) takes its predecessor's claims back at once instead of waiting
    for them to expire; its marker check then finds what the predecessor had already submitted.

    The file is locked (``flock``) while a process uses it: a second agent started beside a running one with the
    same cache folder cannot take the name, and gets a new one of its own for its life, so two live agents never
    share claims. Returns the name and the open, locked file, which the agent keeps open for its whole life (the
    lock is what says the name is taken)."""
    import fcntl

    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(os.open(cache_dir / "agent-instance", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+")
    except OSError as error:
        log.warning(
            "no lasting agent identity in %s (%s): claims of an earlier run wait for their expiry",
            cache_dir,
            error.strerror,
        )
        return uuid.uuid4().hex, None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        log.info("another agent runs with the cache folder %s: this one has an identity of its own", cache_dir)
        return uuid.uuid4().hex, None
    name = handle.read().strip()
    if not (len(name) == 32 and all(character in "0123456789abcdef" for character in name)):
        name = uuid.uuid4().hex
        handle.seek(0)
        handle.truncate()
        handle.write(name)
        handle.flush()
    return name, handle


def write_whole(path: Path, content: bytes) -> None:
    """Write a job file so that no reader (an sbatch of this agent or another) ever sees it partly written: into a
    new file of a temporary name in the same folder, then renamed over ``path`` in one step. The rename replaces
    whatever ``path`` was (a symbolic link included) and never follows it; a regular file replaced keeps its mode."""
    import stat

    temporary = path.with_name(f".jobbergate-{uuid.uuid4().hex[:16]}.tmp")  # short: any file name fits beside it
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            try:
                before = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                before = None
            if before is not None and stat.S_ISREG(before.st_mode):
                os.fchmod(handle.fileno(), stat.S_IMODE(before.st_mode))  # a file replaced keeps its mode
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class JobFilesError(Exception):
    """The job files could not be put in place (a bad folder, a bad name): the submission is rejected."""


class JobFilesLater(Exception):
    """A job file could not be fetched this time (the server failed on it): the submission waits for the next cycle,
    the others go on."""


def main_loop(settings: AgentSettings, *, once: bool = False) -> int:
    """Run the agent until SIGTERM/SIGINT (or one cycle); installs the signal handlers."""
    import signal

    agent = Agent.from_settings(settings)

    def stop(signum, frame):
        log.info("stopping after this step (signal %s)", signum)
        agent.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.monotonic()
    status = agent.run(once=once)
    log.info("agent stopped after %.1f s", time.monotonic() - started)
    return status
