"""Shipping: each tracked job's stdout and stderr sent to the server as they grow (``Shipping``, mixed into ``Agent``).

Where the output is: the job's StdOut and StdErr as Slurm resolved them (``scontrol show job``), asked once per job
and remembered after the job left the controller. How it is read: opened as the job's owner (``acting_as``), with
``O_NOFOLLOW`` and only when it is a regular file, so that nothing the owner could not read on the cluster (a
symbolic link to ``/etc/shadow``, a FIFO, a device) is ever shipped. What is sent: the bytes after those already
sent, in chunks, at the stream's offset on the server, which refuses any other offset and says its length: the
agent then goes on from there, so a chunk sent twice (a retry, a restart) is never stored twice. A file that shrank
or was replaced (another inode) starts again from its beginning, after a note in the stream.

When: the submissions someone is reading (``output_watched``) every cycle, the others every ``SHIP_EVERY`` cycles,
and a job that has ended to its last byte (its streams then marked complete) before its final state is reported.
What was sent is kept in ``CACHE_DIR/output-state.json``, so a restarted agent resumes without a byte twice.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobbergate_cli.agent import api
from jobbergate_cli.agent.base import AgentBase, acting_as
from jobbergate_cli.slurm import Account, SlurmError

log = logging.getLogger("jobbergate.agent")

SHIP_EVERY = 5  # cycles between two shipments of the output nobody is reading
CHUNK_BYTES = 256 * 1024  # the server's largest chunk
RUNNING_CHUNKS = 8  # chunks per stream per cycle while a job runs (2 MiB): a cycle stays short for every job
FINAL_MAX_BYTES = 32 * 1024 * 1024  # an ended job's unsent bytes past this are skipped (the server keeps 16 MiB)
STREAMS = ("stdout", "stderr")
TRUNCATED = b"\n[jobbergate: the output file was truncated or replaced; what follows is from its new start]\n"


@dataclass
class StreamState:
    """How far one stream of one submission has been shipped: ``position`` bytes of the file (``inode``), which
    are ``offset`` bytes of the stream on the server (they differ after a restart of the file)."""

    path: str
    position: int = 0
    offset: int = 0
    inode: tuple[int, int] | None = None
    complete: bool = False


@dataclass
class Shipping(AgentBase):
    # (submission id, stream) -> what was shipped; job id -> (stdout, stderr) paths, None when unknown.
    streams: dict[str, StreamState] = field(default_factory=dict)
    output_paths: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    can_ship: bool = True
    cycles_since_shipping: int = SHIP_EVERY
    streams_loaded: bool = False
    streams_saved: str = ""  # what the state file holds, so an unchanged state is not written again

    def ship_output(self, rows: list[dict], ended: set[int]) -> None:
        """Ship the output of the owners' ``rows`` (active submissions with a job); ``ended`` are the job ids that
        have ended, shipped to the end and completed."""
        if not self.can_ship:
            return
        self._load_streams()
        everyone = self.cycles_since_shipping >= SHIP_EVERY
        self.cycles_since_shipping = 0 if everyone else self.cycles_since_shipping + 1
        try:
            for row in rows:
                job_id = row["slurm_job_id"]
                final = job_id in ended
                if not (everyone or final or row.get("output_watched")):
                    continue
                try:
                    account = self.account_of(row)
                except LookupError:
                    continue
                stdout, stderr = self._paths_of(job_id)
                self._ship(row["id"], "stdout", stdout, account, final=final)
                # Slurm's default sends stderr into the stdout file: then the stderr stream stays empty.
                self._ship(row["id"], "stderr", None if stderr == stdout else stderr, account, final=final)
        except api.OutputNotServed as error:
            self.can_ship = False
            log.warning("the server keeps no job output (%s): output is not shipped", error)
        finally:
            live = {f"{row['id']}:{stream}" for row in rows for stream in STREAMS}
            self.streams = {key: value for key, value in self.streams.items() if key in live}
            jobs = {row["slurm_job_id"] for row in rows}
            self.output_paths = {job: paths for job, paths in self.output_paths.items() if job in jobs}
            self._save_streams()

    def _paths_of(self, job_id: int) -> tuple[str | None, str | None]:
        if job_id not in self.output_paths:
            try:
                found = self.slurm.output_paths(job_id)
            except SlurmError as error:
                log.info("Slurm job %s: no output paths yet (%s)", job_id, error)
                return None, None
            self.output_paths[job_id] = found or (None, None)
        return self.output_paths[job_id]

    def _ship(self, submission_id: int, stream: str, path: str | None, account: Account, *, final: bool) -> None:
        key = f"{submission_id}:{stream}"
        state = self.streams.get(key)
        if state is None or (path and state.path != path):
            state = self.streams[key] = StreamState(path=path or "")
        if state.complete:
            return
        budget = FINAL_MAX_BYTES // CHUNK_BYTES + 8 if final else RUNNING_CHUNKS  # bounded, whatever the server says
        while budget > 0:
            piece, note = self._next_piece(state, account, final=final)
            content = note + piece
            if not content:
                break
            self._send(submission_id, stream, state, content, complete=False)
            state.position += len(piece)
            budget -= 1
        if final:
            self._send(submission_id, stream, state, b"", complete=True)
            state.complete = True

    def _next_piece(self, state: StreamState, account: Account, *, final: bool) -> tuple[bytes, bytes]:
        """The next bytes of the file to send, and a note to send before them (a file restarted or skipped)."""
        if not state.path:
            return b"", b""
        try:
            with acting_as(account):  # the owner's own permissions decide what may be read
                descriptor = os.open(state.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return b"", b""  # not there yet, or not the owner's to read: nothing is shipped
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                return b"", b""
            note = b""
            inode = (info.st_dev, info.st_ino)
            if state.inode is not None and (inode != state.inode or info.st_size < state.position):
                note, state.position = TRUNCATED, 0
            state.inode = inode
            if final and info.st_size - state.position > FINAL_MAX_BYTES:
                skipped = info.st_size - FINAL_MAX_BYTES // 2 - state.position
                note += f"\n[jobbergate: {skipped} bytes skipped]\n".encode()
                state.position += skipped
            return os.pread(descriptor, CHUNK_BYTES - len(note), state.position), note
        finally:
            os.close(descriptor)

    def _send(self, submission_id: int, stream: str, state: StreamState, content: bytes, *, complete: bool) -> None:
        """Append at the stream's offset; when the server's length differs (a chunk it already had, or a restart
        from saved state), go on from its length, moving the file position by as much."""
        length = api.output(self.client, submission_id, stream, state.offset, content, complete=complete)
        expected = state.offset + len(content)
        if length != expected:
            # The server already had these bytes (sent before a crash) or has other ones: resume from its length.
            state.position = max(0, state.position + length - state.offset - len(content))
            log.info(
                "submission %s %s: the server has %d bytes, not %d: resuming there",
                submission_id,
                stream,
                length,
                expected,
            )
        state.offset = length

    def _state_file(self) -> Path:
        return Path(self.settings.cache_dir) / "output-state.json"

    def _load_streams(self) -> None:
        if self.streams_loaded:
            return
        self.streams_loaded = True
        try:
            saved = json.loads(self._state_file().read_text())
            for key, value in saved.items():
                value["inode"] = tuple(value["inode"]) if value.get("inode") else None
                self.streams[key] = StreamState(**value)
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # none yet, or unreadable: the server's answers put each stream right

    def _save_streams(self) -> None:
        text = json.dumps({key: asdict(value) for key, value in self.streams.items()})
        if text == self.streams_saved:
            return  # nothing shipped since: no write every cycle
        path = self._state_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(text)
            os.replace(temporary, path)
            self.streams_saved = text
        except OSError as error:
            log.warning("cannot keep what was shipped in %s: %s", path, error)
