"""Submitting: a pending submission becomes a Slurm job, and its job id is reported (``Submitting``, mixed into
``Agent``).

In order: the pending submissions are claimed (``submit_pending``); one whose job Slurm already has (its marker, the
owner's account) is reported, never submitted again (``_existing_jobs``); the others are prepared (``prepare``: the
owner's account, the folder, the files), their files written as the owner (``place_files``), sent with sbatch in
worker threads (``_sbatch``, before the claim's ``sbatch_deadline``) and their job ids reported in batches
(``report_many``). A submission that cannot run is rejected; a job id the API refuses has its job cancelled
(``refused``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jobbergate_cli import contract
from jobbergate_cli.agent import api
from jobbergate_cli.agent.base import AgentBase, CycleFailed, acting_as
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.slurm import Account, JobState, SbatchRejected, SlurmError, marker, stamp, tagged

log = logging.getLogger("jobbergate.agent")

REPORT_BATCH = 100  # job ids per submitted-many request


class JobFilesError(Exception):
    """The job files could not be put in place (a bad folder, a bad name): the submission is rejected."""


class JobFilesLater(Exception):
    """A job file could not be fetched this time (the server failed on it): the submission waits for the next cycle,
    the others go on."""


@dataclass
class PreparedJob:
    """A pending submission ready for sbatch: who runs it, where, and its files."""

    row: dict
    account: Account
    directory: Path
    files: dict[str, bytes]
    entrypoint: str


@dataclass
class Submitting(AgentBase):
    # Job ids sbatch gave that the API has not taken yet: reported first on the next cycle.
    unreported: dict[int, int] = field(default_factory=dict)
    # Jobs this agent made whose id the API has not taken: submission id -> (job id, account), to cancel the job
    # when the API refuses it (the submission has another job, was deleted or moved on).
    made: dict[int, tuple[int, Account]] = field(default_factory=dict)
    # Whether the API takes many reports at once (None: not known yet; upstream servers do not).
    batch_reports: bool | None = None
    # Job files fetched in this cycle: (job script id, file name) -> content.
    file_cache: dict[tuple, bytes] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local, repr=False)

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

    def _is_owners(self, row: dict, state: JobState) -> bool:
        """Whether a job carrying the submission's marker is its owner's (a comment is anyone's to write)."""
        refusal = self._not_owners(row, state)
        if refusal:
            log.warning("submission %s: the job carrying its marker is ignored: %s", row["id"], refusal)
        return refusal is None

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
        entrypoints = contract.entrypoints(files)
        if len(entrypoints) != 1:
            raise JobFilesError(f"Job script {row.get('job_script_id')} has no single ENTRYPOINT file")
        contents = {}
        for item in files:
            name = item["filename"]
            if contract.local_file_name(name) != name:  # a name that would land elsewhere, or none
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
