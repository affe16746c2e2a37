"""The cluster agent's loop: ``Agent``, which submits its cluster's new submissions to Slurm and reports their jobs'
states back, cycle after cycle, and ``main_loop``, which runs it until a signal stops it.

One cycle, every few seconds (``Agent.cycle``):

1. heartbeat (``PUT /clusters/status``);
2. submitting (submitting.py): pending submissions, all pages, each claimed for this agent process (the server gives
   a submission to one agent instance at a time; ``X-Jobbergate-Agent-Instance`` names the process, see
   identity.py); then one ``squeue --json`` for every job the controller holds. A submission whose job is already in
   Slurm (a job of the owner's account whose comment is its marker, in squeue or, for jobs already purged, in one
   ``sacct`` call) is reported, never submitted again; the others are written to their execution directory as the
   mapped user (never a system account: see ``map_owner`` in base.py; each file whole, through a temporary name)
   and sent with ``sbatch --parsable`` as that user, unless their claim is about to run out. Whatever is wrong with
   one submission (its owner, its files, its sbatch arguments) rejects that submission only; the cycle goes on for
   the others. A job id the API refuses (the submission has another job, was deleted or moved on) gets its job
   cancelled at once;
3. tracking (tracking.py): active submissions: the first time the agent sees a submission's job, the job's Slurm
   user must be the account the owner maps to, or the submission is rejected and nothing of the job is reported or
   cancelled (a job id given on-site may be anyone's); cancelled ones are ``scancel``-ed as their owner's account,
   one call per account, so Slurm itself refuses another user's job; a job that ended is looked up in accounting
   (one ``sacct`` call for all of them) for its final state, exit code and reason; ``scontrol`` when there is no
   accounting;
4. shipping (shipping.py), before any final state is reported: each tracked job's stdout and stderr, read as its
   owner, sent by offset (every cycle while someone reads them; otherwise every ``SHIP_EVERY`` cycles, a share of
   the submissions each cycle; to the last byte once the job ended), every job's chunks together in batch requests
   (one request per chunk to a server without batches);
5. at start and every ``SWEEP_EVERY`` cycles, the sweep (tracking.py): live jobs carrying a marker of this cluster
   are sent to the server, which names those Jobbergate does not know (see ``sweep``); they are cancelled as their
   owner.

A failure of the API or of Slurm is logged in one line and retried on the next cycle (with a growing pause); a job id
the API could not take is kept and reported first on the next cycle, and the marker covers a restart. Every call to
the server is in api.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from jobbergate_cli.agent import api
from jobbergate_cli.agent.base import CycleFailed
from jobbergate_cli.agent.identity import cluster_name, instance_identity
from jobbergate_cli.agent.mappers import load_mapper
from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.agent.shipping import Shipping
from jobbergate_cli.agent.submitting import Submitting
from jobbergate_cli.agent.tracking import Tracking
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.slurm import Slurm, SlurmError
from jobbergate_cli.tokens import SignInError, access_token

log = logging.getLogger("jobbergate.agent")

MAX_PAUSE = 300.0


@dataclass
class Agent(Submitting, Tracking, Shipping):
    """A cluster's agent: the parts and memory of ``AgentBase`` (base.py), the steps of ``Submitting`` and
    ``Tracking``, and the loop that runs them."""

    # This process's name for its claims (the server hands each pending submission to one instance at a time).
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)
    identity_file: IO | None = field(default=None, repr=False)  # held (and locked) while the agent lives

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
            tracked = self.tracked_jobs(queue)
            self.ship_output(tracked.rows, tracked.finished)  # before a final state: the whole output is in first
            self.track(tracked, queue)
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
