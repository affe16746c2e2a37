"""How the agent reads a job's output file (agent/shipping.py), without Slurm: from where it stopped, from the
start again after the file was truncated or replaced (after a note), and never through a link or from a FIFO.
The real cluster, the real agent and the server: tests/test_agent_output.py."""

from __future__ import annotations

import os

from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.agent.shipping import TRUNCATED, Shipping, StreamState
from jobbergate_cli.slurm import Account


def reader(tmp_path) -> Shipping:
    # The parts the reading does not use (the API client, Slurm, the mapper) are left out.
    return Shipping(settings=AgentSettings(cache_dir=str(tmp_path)), client=None, slurm=None, mapper=None, cluster="c")


def test_it_reads_on_from_where_it_stopped(tmp_path):
    path = tmp_path / "job.out"
    path.write_bytes(b"first\n")
    shipping, state, me = reader(tmp_path), StreamState(path=str(path)), Account.current()
    piece, note = shipping._next_piece(state, me, final=False)
    assert (piece, note) == (b"first\n", b"")
    state.position += len(piece)
    with path.open("ab") as handle:
        handle.write(b"second \xff\n")  # any bytes
    assert shipping._next_piece(state, me, final=False) == (b"second \xff\n", b"")


def test_a_truncated_or_replaced_file_starts_again_after_a_note(tmp_path):
    path = tmp_path / "job.out"
    path.write_bytes(b"a long first version\n")
    shipping, state, me = reader(tmp_path), StreamState(path=str(path)), Account.current()
    state.position += len(shipping._next_piece(state, me, final=False)[0])
    path.write_bytes(b"short\n")  # truncated in place: smaller than what was read
    piece, note = shipping._next_piece(state, me, final=False)
    assert (piece, note) == (b"short\n", TRUNCATED)
    state.position += len(piece)
    replacement = tmp_path / "new.out"
    replacement.write_bytes(b"another file of the same size\n" * 2)
    os.replace(replacement, path)  # replaced: another inode
    piece, note = shipping._next_piece(state, me, final=False)
    assert note == TRUNCATED and piece.startswith(b"another file")


def test_a_link_or_a_fifo_is_never_read(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the job's owner\n")
    link = tmp_path / "job.out"
    link.symlink_to(secret)
    fifo = tmp_path / "job.err"
    os.mkfifo(fifo)
    shipping, me = reader(tmp_path), Account.current()
    assert shipping._next_piece(StreamState(path=str(link)), me, final=True) == (b"", b"")
    assert shipping._next_piece(StreamState(path=str(fifo)), me, final=True) == (b"", b"")  # and does not block
