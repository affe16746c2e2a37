"""Shipping: each tracked job's stdout and stderr sent to the server as they grow (``Shipping``, mixed into ``Agent``).

Where the output is: the job's StdOut and StdErr as Slurm resolved them (``scontrol show job``), asked once per job
and remembered after the job left the controller. How it is read: opened as the job's owner (``acting_as``), with
``O_NOFOLLOW`` and only when it is a regular file, so that nothing the owner could not read on the cluster (a
symbolic link to ``/etc/shadow``, a FIFO, a device) is ever shipped. What is sent: the bytes after those already
sent, in chunks, at the stream's offset on the server, which refuses any other offset and says its length: the
agent then goes on from there, so a chunk sent twice (a retry, a restart) is never stored twice. A file that shrank
or was replaced (another inode) starts again from its beginning, after a note in the stream.

When: the submissions someone is reading (``output_watched``) every cycle; the others every ``SHIP_EVERY`` cycles,
a share of them each cycle (a submission's turn comes when the cycle's number and its id agree modulo
``SHIP_EVERY``), so no cycle carries them all; a job that has ended to its last byte (its streams then marked
complete) before its final state is reported.

How: in rounds, each stream due this cycle giving its next chunk to each round, and a round's chunks of every job
sent together, as few batch requests as the bounds allow (``PUT job-submissions/agent/output``, at most
``OUTPUT_BATCH_PIECES`` chunks and ``OUTPUT_BATCH_BYTES`` bytes each: jobbergate_cli.contract), so 500 jobs' output
is one or two requests, not a thousand. A stream with more than a chunk to send goes on to the next round (up to
its budget); one whose chunk the server refused (its submission gone) waits for the next cycle. A server that
refuses the batch request as a whole (ours from before batches, upstream) gets one request per chunk
(``PUT job-submissions/agent/ID/output/STREAM``); one without that either gets none (``OutputNotServed``).
What was sent is kept in ``CACHE_DIR/output-state.json``, so a restarted agent resumes without a byte twice.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jobbergate_cli import contract
from jobbergate_cli.agent import api
from jobbergate_cli.agent.base import AgentBase, acting_as
from jobbergate_cli.client import ApiError
from jobbergate_cli.slurm import Account, SlurmError

log = logging.getLogger("jobbergate.agent")

SHIP_EVERY = 5  # cycles between two shipments of the output nobody is reading
CHUNK_BYTES = contract.OUTPUT_CHUNK_BYTES  # the server's largest chunk
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
class Due:
    """A stream to ship in this cycle: whose, as whom it is read, whether its job ended, chunks it may still send."""

    submission_id: int
    stream: str
    state: StreamState
    account: Account
    final: bool
    budget: int


@dataclass
class Shipping(AgentBase):
    # (submission id, stream) -> what was shipped; job id -> (stdout, stderr) paths, None when unknown.
    streams: dict[str, StreamState] = field(default_factory=dict)
    output_paths: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    can_ship: bool = True
    can_batch: bool = True  # False once the server refused a batch request: one request per chunk
    shipping_cycle: int = 0  # cycles shipped so far: whose turn it is among the submissions nobody reads
    streams_loaded: bool = False
    streams_saved: str = ""  # what the state file holds, so an unchanged state is not written again

    def ship_output(self, rows: list[dict], ended: set[int]) -> None:
        """Ship the output of the owners' ``rows`` (active submissions with a job); ``ended`` are the job ids that
        have ended, shipped to the end and completed."""
        if not self.can_ship:
            return
        self._load_streams()
        turn = self.shipping_cycle % SHIP_EVERY
        self.shipping_cycle += 1
        try:
            due: list[Due] = []
            for row in rows:
                job_id = row["slurm_job_id"]
                final = job_id in ended
                if not (final or row.get("output_watched") or row["id"] % SHIP_EVERY == turn):
                    continue
                try:
                    account = self.account_of(row)
                except LookupError:
                    continue
                stdout, stderr = self._paths_of(job_id)
                # Slurm's default sends stderr into the stdout file: then the stderr stream stays empty.
                for stream, path in (("stdout", stdout), ("stderr", None if stderr == stdout else stderr)):
                    state = self._state(row["id"], stream, path)
                    if not state.complete:
                        budget = FINAL_MAX_BYTES // CHUNK_BYTES + 8 if final else RUNNING_CHUNKS
                        due.append(Due(row["id"], stream, state, account, final, budget))
            self._ship_rounds(due)
        except api.OutputNotServed as error:
            self.can_ship = False
            log.warning("the server keeps no job output (%s): output is not shipped", error)
        finally:
            live = {f"{row['id']}:{stream}" for row in rows for stream in STREAMS}
            self.streams = {key: value for key, value in self.streams.items() if key in live}
            jobs = {row["slurm_job_id"] for row in rows}
            self.output_paths = {job: paths for job, paths in self.output_paths.items() if job in jobs}
            self._save_streams()

    def _state(self, submission_id: int, stream: str, path: str | None) -> StreamState:
        key = f"{submission_id}:{stream}"
        state = self.streams.get(key)
        if state is None or (path and state.path != path):
            state = self.streams[key] = StreamState(path=path or "")
        return state

    def _ship_rounds(self, due: list[Due]) -> None:
        """Each round, the next chunk of every stream in ``due``, sent together; a stream goes on to the next round
        while it has more to send and budget left. An ended job's stream is marked complete with its last chunk
        (or with an empty one once its budget is spent: bounded, whatever the server says)."""
        while due:
            sending: list[tuple[Due, api.OutputPiece, int, bool]] = []
            for item in due:
                piece, note = self._next_piece(item.state, item.account, final=item.final)
                content = note + piece
                at_end = len(piece) < CHUNK_BYTES - len(note)  # a short read: the file's end
                complete = item.final and (at_end or item.budget <= 1)
                if content or complete:
                    item.budget -= 1
                    chunk = api.OutputPiece(item.submission_id, item.stream, item.state.offset, content, complete)
                    sending.append((item, chunk, len(piece), at_end))
            outcomes = self._deliver([chunk for _, chunk, _, _ in sending])
            due = []
            for (item, chunk, read, at_end), outcome in zip(sending, outcomes, strict=True):
                if isinstance(outcome, str):
                    log.warning(
                        "submission %s %s: the server refused its output: %s",
                        chunk.submission_id,
                        chunk.stream,
                        outcome,
                    )
                    continue  # its submission is gone or not this cluster's: nothing more this cycle
                accepted = self._settle(item.state, chunk, read, outcome)
                if chunk.complete and (accepted or item.budget <= 0):
                    item.state.complete = True
                elif item.budget > 0 and (not accepted or not at_end):
                    due.append(item)  # more to send, or to send again from the server's length

    def _deliver(self, chunks: list[api.OutputPiece]) -> list[int | str]:
        """Each chunk's outcome: the stream's length on the server after it (or the one the server has, when the
        offset was not its length), or the server's words refusing it. In batch requests while the server takes
        them, else one request per chunk."""
        outcomes: list[int | str] = []
        start = 0
        while start < len(chunks) and self.can_batch:
            end, size = start, 0
            while end < len(chunks) and end - start < contract.OUTPUT_BATCH_PIECES:
                size += len(chunks[end].content)
                if size > contract.OUTPUT_BATCH_BYTES and end > start:
                    break
                end += 1
            try:
                results = api.output_many(self.client, chunks[start:end])
            except api.BatchNotServed as error:
                self.can_batch = False
                log.info("the server takes no batch of output (%s): one request per chunk", error)
                break
            for result in results:
                length = result.get("length")
                if result.get("status_code") in (200, 409) and isinstance(length, int):
                    outcomes.append(length)
                else:
                    outcomes.append(str(result.get("detail") or f"HTTP {result.get('status_code')}"))
            start = end
        for chunk in chunks[start:]:
            try:
                outcomes.append(
                    api.output(
                        self.client,
                        chunk.submission_id,
                        chunk.stream,
                        chunk.offset,
                        chunk.content,
                        complete=chunk.complete,
                    )
                )
            except ApiError as error:
                if api.unavailable(error) or error.status >= 500:
                    raise
                outcomes.append(str(error))
        return outcomes

    @staticmethod
    def _settle(state: StreamState, chunk: api.OutputPiece, read: int, length: int) -> bool:
        """The server has ``length`` bytes of the stream after ``chunk`` (``read`` bytes of the file after a note):
        whether it took the chunk. When it did not (it had these bytes already, sent before a crash, or other ones),
        go on from its length, moving the file position by as much."""
        expected = chunk.offset + len(chunk.content)
        note = len(chunk.content) - read  # the chunk's first bytes were a note of ours, not the file's
        taken = length - chunk.offset  # how much of the chunk the server has (less than none: it has fewer bytes)
        if taken >= note:
            state.position += taken - note  # the file's bytes it has of this chunk: go on after them
        elif taken < 0:
            state.position = max(0, state.position + taken)  # it lacks bytes sent before: send them again
        state.offset = length
        if length != expected:
            log.info(
                "submission %s %s: the server has %d bytes, not %d: resuming there",
                chunk.submission_id,
                chunk.stream,
                length,
                expected,
            )
        return length == expected

    def _paths_of(self, job_id: int) -> tuple[str | None, str | None]:
        if job_id not in self.output_paths:
            try:
                found = self.slurm.output_paths(job_id)
            except SlurmError as error:
                log.info("Slurm job %s: no output paths yet (%s)", job_id, error)
                return None, None
            self.output_paths[job_id] = found or (None, None)
        return self.output_paths[job_id]

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
        # vars, not dataclasses.asdict: asdict deep-copies each field, 60 ms a cycle for 1,000 streams (measured)
        text = json.dumps({key: vars(value) for key, value in self.streams.items()})
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
