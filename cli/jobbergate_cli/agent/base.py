"""What submitting and tracking share: ``AgentBase``, the parts an agent is made of and what it remembers across
its parts, and the rules both apply: whose account a submission runs as (``account_of``, ``map_owner``) and whether
a Slurm job is its owner's (``_not_owners``), rejecting a submission (``reject``), cancelling a job Jobbergate does
not know (``cancel_unknown``).

``Agent`` (loop.py) is ``AgentBase`` with the steps of a cycle mixed in: submitting.py and tracking.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from jobbergate_cli.agent import api
from jobbergate_cli.agent.mappers import Mapper
from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.slurm import Account, JobState, Slurm

log = logging.getLogger("jobbergate.agent")


class CycleFailed(Exception):
    """A cycle could not finish (the API or Slurm is down); nothing is lost, the next cycle tries again."""


@dataclass
class AgentBase:
    settings: AgentSettings
    client: ApiClient
    slurm: Slurm
    mapper: Mapper
    cluster: str
    stop: threading.Event = field(default_factory=threading.Event)
    # Owners mapped in this cycle: e-mail -> account (or the LookupError that refused it).
    account_cache: dict[str, Account | LookupError] = field(default_factory=dict)
    # The last state reported per submission, so an unchanged state is not sent again.
    reported: dict[int, str] = field(default_factory=dict)
    # (submission id, job id) whose job is the owner's own account's, checked once per agent run.
    verified: set[tuple[int, int]] = field(default_factory=set)
    # When this cycle's claims were taken and when each ends (time.monotonic()); none from a server without claims
    # (upstream).
    claimed_at: float = 0.0
    claim_expiry: dict[int, float] = field(default_factory=dict)

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

    def cancel_unknown(
        self, submission_id: int, job_id: int, account: Account, message: str, *, client: ApiClient | None = None
    ) -> None:
        """scancel a job Jobbergate does not know (a refused job id, a stray of the sweep), as ``account``; say so in
        the log and on the submission."""
        refusal = self.slurm.cancel([job_id], account=account)
        if refusal:
            log.warning("submission %s: scancel %s as %s failed: %s", submission_id, job_id, account.name, refusal)
            return
        log.warning("submission %s: %s", submission_id, message)
        self.record_swept(submission_id, job_id, message, client=client)

    def record_swept(self, submission_id: int, job_id: int, message: str, *, client: ApiClient | None = None) -> None:
        """A progress entry on the submission saying which job was cancelled (best effort: the log has it too)."""
        try:
            api.swept(client or self.client, submission_id, job_id, message)
        except ApiError as error:
            if error.status not in (404, 405):
                log.warning(
                    "submission %s: the API did not record the cancelled job %s: %s", submission_id, job_id, error
                )


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
