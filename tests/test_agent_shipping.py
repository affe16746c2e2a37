"""How the agent reads a job's output file (agent/shipping.py), without Slurm: from where it stopped, from the
start again after the file was truncated or replaced (after a note), and never through a link or from a FIFO; against
a server without the output endpoints (upstream's), it stops asking after one log line.
The real cluster, the real agent and the server: tests/test_agent_output.py."""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.agent.shipping import TRUNCATED, Shipping, StreamState
from jobbergate_cli.client import ApiClient
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


class UpstreamServer(BaseHTTPRequestHandler):
    """Answers every request as the upstream API 5.12 (FastAPI) answers a path it does not have: 404 with
    ``{"detail": "Not Found"}``. A stand-in because the upstream server cannot run in the suite (it needs Python
    3.12, S3 and its own database; ../shared/bench-upstream runs it): its answer to our output PUT was recorded
    from the real one."""

    calls: list[str] = []

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        UpstreamServer.calls.append(self.path)
        body = json.dumps({"detail": "Not Found"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_against_an_upstream_server_the_agent_stops_shipping_after_one_log_line(tmp_path, caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), UpstreamServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "job.out"
    path.write_bytes(b"some output\n")

    class Owner(Shipping):
        def account_of(self, row):
            return Account.current()

    client = ApiClient(base_url=f"http://127.0.0.1:{server.server_port}", token=lambda: "t", retries=0)
    shipping = Owner(
        settings=AgentSettings(cache_dir=str(tmp_path)), client=client, slurm=None, mapper=None, cluster="c"
    )
    shipping.output_paths[7] = (str(path), None)
    rows = [{"id": 1, "slurm_job_id": 7, "owner_email": "a@example.com", "output_watched": True}]
    try:
        with caplog.at_level(logging.INFO, logger="jobbergate.agent"):
            for _ in range(3):  # three cycles: the first asks once, the others ask nothing
                shipping.ship_output(rows, ended={7})
    finally:
        server.shutdown()
    assert UpstreamServer.calls == ["/jobbergate/job-submissions/agent/1/output/stdout?offset=0"]
    assert not shipping.can_ship
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "the server keeps no job output" in warnings[0]
