"""How the agent reads a job's output file and sends it (agent/shipping.py), without Slurm: from where it stopped,
from the start again after the file was truncated or replaced (after a note), and never through a link or from a
FIFO; every job's chunks in batch requests to the live server, the output nobody reads spread over the cycles; one
request per chunk to a server of ours without batches; against a server without the output endpoints (upstream's),
it stops asking after one log line. The real cluster, the real agent and the server: tests/test_agent_output.py."""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jobbergate_cli.agent import api
from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.agent.shipping import SHIP_EVERY, TRUNCATED, Shipping, StreamState
from jobbergate_cli.client import ApiClient
from jobbergate_cli.slurm import Account

from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobOutput, JobSubmission
from testkit.factories import make_submission


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


class UpstreamServer(BaseHTTPRequestHandler):
    """Answers as the upstream API 5.12 (FastAPI) does. A path it does not have: 404 with ``{"detail": "Not Found"}``
    (recorded from the real one for our single output PUT). Our batch path, ``PUT /job-submissions/agent/output``,
    matches its route ``PUT /job-submissions/agent/{job_submission_id}``, which refuses ``output`` as an id with a
    422 (read from upstream's router, not recorded). A stand-in because the upstream server cannot run in the suite
    (it needs Python 3.12, S3 and its own database; ../shared/bench-upstream runs it)."""

    calls: list[str] = []

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        UpstreamServer.calls.append(self.path)
        if self.path == "/jobbergate/job-submissions/agent/output":
            problem = {"type": "int_parsing", "loc": ["path", "job_submission_id"], "msg": "Input should be an int"}
            status, body = 422, json.dumps({"detail": [problem]}).encode()
        else:
            status, body = 404, json.dumps({"detail": "Not Found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Owner(Shipping):
    """Shipping whose every owner is this process's own account (no mapper, no Slurm)."""

    def account_of(self, row):
        return Account.current()


def test_against_an_upstream_server_the_agent_stops_shipping_after_one_log_line(tmp_path, caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), UpstreamServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "job.out"
    path.write_bytes(b"some output\n")
    client = ApiClient(base_url=f"http://127.0.0.1:{server.server_port}", token=lambda: "t", retries=0)
    shipping = Owner(
        settings=AgentSettings(cache_dir=str(tmp_path)), client=client, slurm=None, mapper=None, cluster="c"
    )
    shipping.output_paths[7] = (str(path), None)
    rows = [{"id": 1, "slurm_job_id": 7, "owner_email": "a@example.com", "output_watched": True}]
    try:
        with caplog.at_level(logging.INFO, logger="jobbergate.agent"):
            for _ in range(3):  # three cycles: the first asks twice (a batch, then one chunk), the others nothing
                shipping.ship_output(rows, ended={7})
    finally:
        server.shutdown()
    assert UpstreamServer.calls == [
        "/jobbergate/job-submissions/agent/output",
        "/jobbergate/job-submissions/agent/1/output/stdout?offset=0&complete=true",
    ]
    assert not shipping.can_ship
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "the server keeps no job output" in warnings[0]


# Against the live server --------------------------------------------------------------------------------------------


class Requests:
    """The paths of the agent's requests to the output endpoints, per cycle."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        original = ApiClient.request

        def recorded(client, method, path, **kwargs):
            if "/output" in path:
                self.paths.append(path)
            return original(client, method, path, **kwargs)

        monkeypatch.setattr(ApiClient, "request", recorded)

    def take(self) -> list[str]:
        taken, self.paths = self.paths, []
        return taken


def printing_jobs(tmp_path, alice, count: int, *, watched: bool) -> list[dict]:
    """``count`` running submissions of cluster-a, each job with its stdout and stderr files: the agent's rows."""
    rows = []
    for index in range(count):
        submission = make_submission(
            alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=100 + index
        )
        for stream in ("out", "err"):
            (tmp_path / f"{submission.pk}.{stream}").write_bytes(f"{stream} of job {index}\n".encode())
        rows.append(
            {"id": submission.pk, "slurm_job_id": 100 + index, "owner_email": alice.email, "output_watched": watched}
        )
    return rows


def agent_for(tmp_path, live_server, agent, rows) -> Owner:
    client = ApiClient(base_url=live_server.url, token=lambda: agent.token, retries=0)
    shipping = Owner(
        settings=AgentSettings(cache_dir=str(tmp_path / "cache")), client=client, slurm=None, mapper=None, cluster="c"
    )
    for row in rows:
        shipping.output_paths[row["slurm_job_id"]] = (
            str(tmp_path / f"{row['id']}.out"),
            str(tmp_path / f"{row['id']}.err"),
        )
    return shipping


def shipped(submission_id: int, stream: str) -> bytes:
    from submissions import output

    return output.read(submission=JobSubmission.objects.get(pk=submission_id), stream=stream, offset=0).content


BATCH = "job-submissions/agent/output"


@pytest.mark.django_db(transaction=True)
def test_every_watched_jobs_output_goes_in_one_batch_request(tmp_path, live_server, agent, alice, monkeypatch):
    rows = printing_jobs(tmp_path, alice, 6, watched=True)
    shipping = agent_for(tmp_path, live_server, agent, rows)
    sent = Requests(monkeypatch)
    shipping.ship_output(rows, ended=set())
    assert sent.take() == [BATCH]  # 12 streams, one request
    for row in rows:
        assert shipped(row["id"], "stdout") == (tmp_path / f"{row['id']}.out").read_bytes()
        assert shipped(row["id"], "stderr") == (tmp_path / f"{row['id']}.err").read_bytes()
    with (tmp_path / f"{rows[0]['id']}.out").open("ab") as handle:
        handle.write(b"more\n")
    shipping.ship_output(rows, ended=set())
    assert sent.take() == [BATCH]
    assert shipped(rows[0]["id"], "stdout").endswith(b"more\n")


@pytest.mark.django_db(transaction=True)
def test_a_batch_stays_within_its_bounds_and_a_refused_piece_fails_no_other(
    tmp_path, live_server, agent, alice, monkeypatch
):
    from jobbergate_cli import contract

    rows = printing_jobs(tmp_path, alice, 5, watched=True)
    shipping = agent_for(tmp_path, live_server, agent, rows)
    JobSubmission.objects.filter(pk=rows[0]["id"]).delete()  # gone between the active list and the shipment
    monkeypatch.setattr(contract, "OUTPUT_BATCH_PIECES", 4)
    sent = Requests(monkeypatch)
    shipping.ship_output(rows, ended=set())
    assert sent.take() == [BATCH] * 3  # 10 streams, at most 4 a request
    for row in rows[1:]:
        assert shipped(row["id"], "stdout") == (tmp_path / f"{row['id']}.out").read_bytes()
    assert shipping.can_batch and shipping.can_ship


@pytest.mark.django_db(transaction=True)
def test_the_output_nobody_reads_is_spread_over_the_cycles(tmp_path, live_server, agent, alice, monkeypatch):
    rows = printing_jobs(tmp_path, alice, 2 * SHIP_EVERY, watched=False)
    shipping = agent_for(tmp_path, live_server, agent, rows)
    sent = Requests(monkeypatch)
    turns = []
    for _ in range(SHIP_EVERY):
        before = set(JobOutput.objects.values_list("submission_id", flat=True))
        shipping.ship_output(rows, ended=set())
        turns.append(set(JobOutput.objects.values_list("submission_id", flat=True)) - before)
        assert sent.take() == [BATCH]  # every cycle one request, for its share
    assert [len(turn) for turn in turns] == [2] * SHIP_EVERY  # each cycle a fifth of them
    assert set().union(*turns) == {row["id"] for row in rows}  # and in SHIP_EVERY cycles every one
    shipping.ship_output(rows, ended={rows[0]["slurm_job_id"]})  # an ended job goes out of turn, completed
    assert JobOutput.objects.get(submission_id=rows[0]["id"], stream="stdout").complete


@pytest.mark.django_db(transaction=True)
def test_a_server_of_ours_without_batches_gets_one_request_per_chunk(
    tmp_path, live_server, agent, alice, monkeypatch, caplog
):
    from rest_framework.exceptions import NotFound

    from submissions.views import AgentViewSet

    def not_here(self, request):  # as a server from before batches answers the path: 404
        raise NotFound("Not found.")

    monkeypatch.setattr(AgentViewSet, "output_many", not_here)
    rows = printing_jobs(tmp_path, alice, 2, watched=True)
    shipping = agent_for(tmp_path, live_server, agent, rows)
    sent = Requests(monkeypatch)
    with caplog.at_level(logging.INFO, logger="jobbergate.agent"):
        shipping.ship_output(rows, ended=set())
    first = sent.take()
    assert first[0] == BATCH and len(first) == 5  # the batch refused, then one request per stream
    assert all("/output/std" in path for path in first[1:])
    for row in rows:
        assert shipped(row["id"], "stderr") == (tmp_path / f"{row['id']}.err").read_bytes()
    with (tmp_path / f"{rows[1]['id']}.out").open("ab") as handle:
        handle.write(b"more\n")
    shipping.ship_output(rows, ended=set())
    assert sent.take() == [f"job-submissions/agent/{rows[1]['id']}/output/stdout"]  # no batch asked again
    assert shipping.can_ship and not shipping.can_batch
    assert sum("the server takes no batch of output" in record.getMessage() for record in caplog.records) == 1


def test_when_the_server_has_part_of_a_chunk_the_agent_goes_on_right_after_that_part(tmp_path):
    # The server stored 186 bytes (an earlier request whose answer was lost); the agent, which thought it had sent
    # nothing, sends the whole 759-byte file from 0: it must go on from the file's byte 186, not from its end.
    state = StreamState(path="job.out", position=0, offset=0)
    chunk = api.OutputPiece(1, "stdout", 0, b"x" * 759, True)
    assert not Shipping._settle(state, chunk, 759, 186)
    assert (state.position, state.offset) == (186, 186)
    # It has more than the agent sent (sent before a crash): past this chunk, as far as the server has.
    state = StreamState(path="job.out", position=100, offset=100)
    assert not Shipping._settle(state, api.OutputPiece(1, "stdout", 100, b"y" * 50, False), 50, 300)
    assert (state.position, state.offset) == (300, 300)
    # It has fewer bytes than the agent's offset: back by as much, to send them again.
    state = StreamState(path="job.out", position=500, offset=500)
    assert not Shipping._settle(state, api.OutputPiece(1, "stdout", 500, b"z" * 10, False), 10, 480)
    assert (state.position, state.offset) == (480, 480)
    # A chunk that began with a note of ours: the note is not the file's.
    state = StreamState(path="job.out", position=0, offset=40)
    assert Shipping._settle(
        state, api.OutputPiece(1, "stdout", 40, TRUNCATED + b"abc", False), 3, 40 + len(TRUNCATED) + 3
    )
    assert state.position == 3
