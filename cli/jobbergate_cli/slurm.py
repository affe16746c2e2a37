"""Slurm's own commands, run with argument lists (never a shell) and read in bulk.

Used by the cluster agent and by on-site submission. Facts this module is built on (Slurm 22.05 and later):

- ``sbatch --parsable`` prints the job id (``id;cluster`` on a multi-cluster set-up).
- ``squeue --json`` lists every job the controller still holds, finished ones too until ``MinJobAge`` purges them,
  in one call; ``exit_code`` there is a raw wait status in 22.05 (768 means exit 3) and an object later.
- ``sacct -P`` has the final state once a job left the controller; its ``ExitCode`` column is ``code:signal``.
  (``sacct --json`` in 22.05 reports 0 for every normal exit, so it is not used.) ``Comment`` is there only with
  ``AccountingStoreFlags=job_comment``.
- Every job the agent submits carries its submission in ``--comment`` (see ``marker``), so a restarted agent finds
  a job it already submitted instead of submitting it twice. The marker is the whole comment: a user's arguments may
  not set ``--comment``, and only a comment that is exactly one marker counts (``tagged``).
- sbatch reads options with getopt_long, which takes any unambiguous prefix of a long option for the option
  (``--ui=0`` is ``--uid=0``, ``--wra`` is ``--wrap``): a forbidden option is refused under every prefix.
- Each reader keeps the job's Slurm user (``user_id``/``user_name`` in squeue, ``UID``/``User`` in sacct,
  ``UserId=name(uid)`` in scontrol): the agent acts on a job only for the account it belongs to (``owned_by``).
- ``scancel`` run as an ordinary user cancels that user's jobs only ("Access/permission denied" for the others,
  exit status non-zero); the jobs of that user named in the same call are cancelled all the same.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from jobbergate_cli.contract import ACTIVE_SLURM_STATES, FORBIDDEN_SBATCH_OPTIONS

# Words in Slurm's errors that mean "try again later", not "this job is refused".
TRANSIENT_ERRORS = (
    "unable to contact slurm controller",
    "socket timed out",
    "zero bytes were transmitted",
    "slurm temporarily unable",
    "resource temporarily unavailable",
    "connection refused",
    "communication connection failure",
    "slurmctld is not responding",
    "unable to connect to database",
    "slurmdbd",
)
MARKER = re.compile(r"jobbergate:(?P<cluster>[^:\s]+):(?P<id>\d+):(?P<stamp>\d+)")
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SlurmError(Exception):
    """A Slurm command failed; ``transient`` when the controller or accounting could not be reached."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class SbatchRejected(SlurmError):
    """sbatch refused the job; the message is Slurm's own text."""


def marker(cluster: str, submission_id: int, created: str | None) -> str:
    """The tag a submission's job carries in its comment: the cluster, the id and the creation time (in seconds),
    so a submission id that comes round again (a database restored or reset) is not taken for an older job."""
    return f"jobbergate:{cluster}:{submission_id}:{stamp(created)}"


def stamp(created: str | None) -> int:
    """A submission's ``created_at`` in whole seconds since the epoch (0 when unknown)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def is_transient(message: str) -> bool:
    text = message.lower()
    return any(words in text for words in TRANSIENT_ERRORS)


@dataclass(frozen=True)
class Account:
    """The Unix account a job is submitted as."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/bin/sh"

    @classmethod
    def named(cls, name: str) -> Account:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise LookupError(f"There is no Unix account named {name!r} on this host.") from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")

    @classmethod
    def with_uid(cls, uid: int) -> Account:
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            raise LookupError(f"There is no Unix account with uid {uid} on this host.") from None
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell or "/bin/sh")

    @classmethod
    def current(cls) -> Account:
        return cls.with_uid(os.geteuid())

    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


@dataclass
class JobState:
    """What Slurm says about one job."""

    job_id: int
    state: str
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    comment: str | None = None
    source: str = "squeue"
    user_id: int | None = None  # the job's Slurm user
    user_name: str | None = None
    # The job sbatch printed the id of, when this is one task of an array or one component of a heterogeneous
    # job: each task that starts gets an id of its own and carries the same comment.
    array_job_id: int | None = None
    het_job_id: int | None = None

    @property
    def submitted_id(self) -> int:
        """The id ``sbatch --parsable`` gave for the job this entry belongs to (what Jobbergate records)."""
        return self.array_job_id or self.het_job_id or self.job_id

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE_SLURM_STATES

    def owned_by(self, account: Account) -> bool | None:
        """Whether the job is ``account``'s (by uid, by name when Slurm gave no uid); None when Slurm did not say."""
        if self.user_id is not None:
            return self.user_id == account.uid
        if self.user_name:
            return self.user_name == account.name
        return None

    def info(self) -> str:
        shown = {key: value for key, value in asdict(self).items() if value is not None and key not in OWNER_FIELDS}
        return json.dumps(shown, sort_keys=True)

    def describe(self) -> str:
        """One line for people: the state, the exit code and Slurm's reason."""
        parts = [f"Slurm job {self.job_id} ended {self.state}"]
        if self.exit_code:
            parts.append(f"with exit code {self.exit_code}")
        if self.signal:
            parts.append(f"by signal {self.signal}")
        if self.reason and self.reason not in ("None", "NonZeroExitCode"):
            parts.append(f"({self.reason})")
        return " ".join(parts)


# What the agent checks but does not report in slurm_job_info: whose job it is, and which job sbatch made.
OWNER_FIELDS = frozenset({"user_id", "user_name", "array_job_id", "het_job_id"})


def clean_environment(account: Account, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a job submitted for ``account`` sees of the agent's environment: nothing but the basics and SLURM_CONF.

    sbatch exports its environment to the job, so the agent's own settings (its secrets among them) must not leak.
    """
    environment = {
        "PATH": CLEAN_PATH,
        "HOME": account.home,
        "USER": account.name,
        "LOGNAME": account.name,
        "SHELL": account.shell,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    if os.environ.get("SLURM_CONF"):
        environment["SLURM_CONF"] = os.environ["SLURM_CONF"]
    environment.update(extra or {})
    return environment


def forbidden_option(argument: str) -> str | None:
    """The forbidden option ``argument`` sets, written in full or as any prefix sbatch would read as it (``--ui=0``,
    ``--wra``, ``--c``: getopt_long's abbreviations); None when it sets none of them."""
    if not argument.startswith("--"):
        return None
    name = argument[2:].split("=", 1)[0]
    for option in FORBIDDEN_SBATCH_OPTIONS:
        if name and option[2:].startswith(name):
            return option
    return None


def check_sbatch_arguments(arguments: Sequence[str]) -> None:
    """Each argument is one sbatch option (``--x=y`` or ``-x``); nothing that changes who or what is submitted, nor
    the comment (the agent's marker)."""
    for argument in arguments:
        if (
            not isinstance(argument, str)
            or not argument.startswith("-")
            or argument == "--"
            or "\n" in argument
            or "\0" in argument
        ):
            raise SbatchRejected(f"Not an sbatch option: {argument!r} (write each as --name=value).")
        forbidden = forbidden_option(argument)
        if forbidden:
            raise SbatchRejected(
                f"The sbatch option {argument.split('=', 1)[0]} ({forbidden}) is not allowed in the submission's "
                "sbatch arguments."
            )


@dataclass
class Slurm:
    """Slurm's commands on this host. ``timeout`` bounds every call (a stopped controller makes them hang)."""

    sbatch: str = "sbatch"
    squeue: str = "squeue"
    sacct: str = "sacct"
    scontrol: str = "scontrol"
    scancel: str = "scancel"
    timeout: float = 60.0
    accounting: bool | None = None  # None: not known yet; False once sacct said accounting is off

    def run(
        self,
        argv: Sequence[str],
        *,
        account: Account | None = None,
        cwd: str | Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run one command as ``account`` (root switches to it; anyone else must already be it)."""
        user = group = extra_groups = None
        if account is not None and os.geteuid() == 0 and account.uid != 0:
            user, group, extra_groups = account.uid, account.gid, account.groups()
        try:
            return subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,  # sbatch reads a script from stdin when it was given none
                capture_output=True,
                text=True,
                timeout=self.timeout,
                cwd=cwd,
                env=environment if environment is not None else clean_environment(account or Account.current()),
                check=False,
                user=user,
                group=group,
                extra_groups=extra_groups,
            )
        except FileNotFoundError:
            raise SlurmError(f"{argv[0]} was not found: is Slurm installed here (or set its path)?") from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{Path(argv[0]).name} did not answer in {self.timeout:g} s", transient=True) from None

    def _checked(self, argv: Sequence[str], **kwargs) -> str:
        result = self.run(argv, **kwargs)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip() or f"{argv[0]} exited {result.returncode}"
            raise SlurmError(message, transient=is_transient(message))
        return result.stdout

    # Submitting -------------------------------------------------------------------------------------------------

    def submit(
        self,
        script: Path,
        *,
        account: Account,
        arguments: Sequence[str] = (),
        tag: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> int:
        """``sbatch --parsable`` the script as ``account`` in the script's folder; the job id.

        Raises SbatchRejected with Slurm's words when Slurm refuses the job, SlurmError(transient=True) when Slurm
        could not be reached (the job may be tried again later).
        """
        check_sbatch_arguments(arguments)
        # The agent's own options first, so an option left without its value cannot take them as it; the script as
        # ./name, which sbatch cannot read as an option whatever the file is called (``--wrap=id``, ``-x``).
        own = ["--parsable", *([f"--comment={tag}"] if tag else [])]
        argv = [self.sbatch, *own, *arguments, f"./{script.name}"]
        result = self.run(argv, account=account, cwd=script.parent, environment=environment)
        output = result.stdout.strip()
        if result.returncode != 0:
            message = (result.stderr or output).strip() or f"sbatch exited {result.returncode}"
            if is_transient(message):
                raise SlurmError(message, transient=True)
            raise SbatchRejected(message)
        first = output.splitlines()[-1].split(";", 1)[0] if output else ""
        if not first.isdigit():
            raise SlurmError(f"sbatch printed no job id: {output!r}")
        return int(first)

    # Looking -----------------------------------------------------------------------------------------------------

    def queue(self) -> dict[int, JobState]:
        """Every job the controller holds, in one ``squeue --json`` call."""
        output = self._checked([self.squeue, "--json", "--all"])
        try:
            jobs = json.loads(output).get("jobs", [])
        except ValueError:
            raise SlurmError("squeue --json printed something that is not JSON") from None
        states = {}
        for job in jobs:
            state = squeue_state(job)
            states[state.job_id] = state
        return states

    def accounted(self, job_ids: Iterable[int] = (), *, since: str | None = None) -> dict[int, JobState] | None:
        """Final states from accounting, in one ``sacct`` call: the given jobs, or every job since a time.

        Returns None when this cluster keeps no accounting (then ``accounting`` is False and callers fall back).
        """
        argv = [self.sacct, "-P", "-n", "-X", "-o", SACCT_FIELDS]
        ids = sorted(set(job_ids))
        if ids:
            argv += ["-j", ",".join(map(str, ids))]
        if since:
            argv += ["-S", since]
        argv.append("-a")  # every user's jobs
        result = self.run(argv)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            if "accounting storage is disabled" in message.lower() or "not enabled" in message.lower():
                self.accounting = False
                return None
            raise SlurmError(message or "sacct failed", transient=True)
        self.accounting = True
        states = {}
        for line in result.stdout.splitlines():
            state = sacct_state(line)
            if state is not None:
                states[state.job_id] = state
        return states

    def controller_state(self, job_id: int) -> JobState | None:
        """``scontrol show job``: the fallback when accounting is off; None when the controller forgot the job."""
        result = self.run([self.scontrol, "show", "job", "-o", str(job_id)])
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            if "invalid job id" in message.lower():
                return None
            raise SlurmError(message or "scontrol failed", transient=is_transient(message))
        return scontrol_state(result.stdout)

    def output_paths(self, job_id: int) -> tuple[str | None, str | None] | None:
        """Where a job writes its stdout and stderr (``scontrol show job``: StdOut and StdErr, absolute, relative
        ones joined to WorkDir); None when the controller no longer holds the job."""
        result = self.run([self.scontrol, "show", "job", "-o", str(job_id)])
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            if "Invalid job id" in message:
                return None
            raise SlurmError(message or "scontrol failed", transient=is_transient(message))
        return output_paths(result.stdout.splitlines()[0] if result.stdout else "")

    def cancel(self, job_ids: Iterable[int], *, account: Account) -> str | None:
        """``scancel`` the jobs in one call as ``account``, so Slurm itself refuses jobs that are not that account's.

        Returns Slurm's message when it refused some of them (another user's job, one that already ended), None when
        all went through; raises SlurmError(transient=True) when Slurm could not be reached.
        """
        ids = sorted(set(job_ids))
        if not ids:
            return None
        result = self.run([self.scancel, *map(str, ids)], account=account)
        if result.returncode == 0:
            return None
        message = (result.stderr or result.stdout).strip() or f"scancel exited {result.returncode}"
        if is_transient(message):
            raise SlurmError(message, transient=True)
        return message


def _number(value) -> int | None:
    """A number from squeue's JSON: a plain int (22.05) or ``{"set": true, "number": N}`` (later)."""
    if isinstance(value, dict):
        return value.get("number") if value.get("set", True) and not value.get("infinite") else None
    return value if isinstance(value, int) else None


def squeue_state(job: dict) -> JobState:
    state = job.get("job_state")
    if isinstance(state, list):  # 23.02+ gives a list of flags, the base state first
        state = state[0] if state else "UNKNOWN"
    exit_code, signal = None, None
    raw = job.get("exit_code")
    if isinstance(raw, dict):  # 23.02+: {"status": [...], "return_code": {...}, "signal": {...}}
        exit_code = _number(raw.get("return_code"))
        signal = _number((raw.get("signal") or {}).get("id"))
    elif isinstance(raw, int):  # 22.05: a raw wait status
        exit_code, signal = (raw >> 8) & 0xFF, raw & 0x7F
    return JobState(
        job_id=int(job["job_id"]),
        state=str(state or "UNKNOWN").split()[0],
        exit_code=exit_code,
        signal=signal or None,
        reason=job.get("state_reason") or None,
        comment=job.get("comment") or None,
        source="squeue",
        user_id=_number(job.get("user_id")),
        user_name=job.get("user_name") or None,
        array_job_id=_number(job.get("array_job_id")) or None,  # 0 when the job is no array's
        het_job_id=_number(job.get("het_job_id")) or None,
    )


# The columns ``accounted`` asks sacct for; Comment last, as it may hold the separator.
SACCT_FIELDS = "JobID,State,ExitCode,Reason,UID,User,Comment"


def sacct_state(line: str) -> JobState | None:
    """One line of ``sacct -P`` with ``SACCT_FIELDS``."""
    parts = line.split("|")
    if len(parts) < 7 or not parts[0].isdigit():
        return None
    job_id, state, exit_code, reason, uid, user = parts[:6]
    code, _, signal = exit_code.partition(":")
    return JobState(
        job_id=int(job_id),
        state=state.split()[0] if state else "UNKNOWN",  # "CANCELLED by 0"
        exit_code=int(code) if code.isdigit() else None,
        signal=int(signal) if signal.isdigit() and int(signal) else None,
        reason=reason or None,
        comment="|".join(parts[6:]) or None,
        source="sacct",
        user_id=int(uid) if uid.isdigit() else None,
        user_name=user or None,
    )


def scontrol_state(text: str) -> JobState | None:
    fields = dict(re.findall(r"(\w+)=(\S*)", text))
    if "JobId" not in fields:
        return None
    code, _, signal = fields.get("ExitCode", "").partition(":")
    user = re.fullmatch(r"(?P<name>[^(]*)\((?P<uid>\d+)\)", fields.get("UserId", ""))  # root(0)
    return JobState(
        job_id=int(fields["JobId"]),
        state=fields.get("JobState", "UNKNOWN"),
        exit_code=int(code) if code.isdigit() else None,
        signal=int(signal) if signal.isdigit() and int(signal) else None,
        reason=fields.get("Reason") or None,
        comment=fields.get("Comment") or None,
        source="scontrol",
        user_id=int(user["uid"]) if user else None,
        user_name=(user["name"] or None) if user else None,
    )


def output_paths(line: str) -> tuple[str | None, str | None] | None:
    """StdOut and StdErr of one ``scontrol show job -o`` line, absolute; None for a line that is no job. A path
    Slurm left with a ``%`` pattern in it, or one with a space (the one-line format cannot tell where it ends), is
    None: not shipped rather than guessed."""
    if "JobId=" not in line:
        return None

    def value(name: str) -> str:
        # A value ends where the next Key= begins; one with a space in it matches nothing.
        found = re.search(rf"(?:^|\s){name}=(\S*)(?=\s+\w+=|\s*$)", line)
        return found.group(1) if found else ""

    workdir = value("WorkDir")

    def resolved(name: str) -> str | None:
        path = value(name)
        if not path or "%" in path:
            return None
        return path if path.startswith("/") else os.path.join(workdir, path) if workdir.startswith("/") else None

    return resolved("StdOut"), resolved("StdErr")


def tagged(states: Iterable[JobState]) -> dict[tuple[str, int, int], list[JobState]]:
    """(cluster, submission id, creation stamp) -> the jobs whose comment is exactly that marker.

    Only a comment that is one marker and nothing else counts (the agent writes it so; a comment carrying markers
    among other text was not written by the agent). Anyone can still give their own job such a comment, so a marker
    may name several jobs: the caller keeps the one whose Slurm user is the submission's owner's account."""
    found: dict[tuple[str, int, int], list[JobState]] = {}
    for state in states:
        match = MARKER.fullmatch(state.comment or "")
        if match:
            found.setdefault((match["cluster"], int(match["id"]), int(match["stamp"])), []).append(state)
    return found
