"""The agent's calls to the server: one function per endpoint, each path written once, no Click.

Each takes the client (``jobbergate_cli.client.ApiClient``, whose failures are ``ApiError``) and puts the agent's
words into the server's wire format; what a refusal means is the caller's to decide.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from jobbergate_cli import contract, endpoints
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.slurm import JobState

AGENT = "job-submissions/agent"
# The header naming this agent process to the server, so two agents of one cluster hold separate claims.
INSTANCE_HEADER = contract.AGENT_INSTANCE_HEADER
# The state reported with a job id sbatch has just given.
NEW_JOB_STATE = "PENDING"


def unavailable(error: ApiError) -> bool:
    """Whether an API error is about the API as a whole (unreachable, the agent's token, throttling), which fails
    the cycle; any other answer is about the one request, and so about one submission at most."""
    return error.status in (0, 401, 408, 429)


def cluster_status(client: ApiClient, interval: int) -> None:
    """The heartbeat: the server calls the cluster unhealthy when no other comes within ``interval`` seconds."""
    client.json("PUT", "clusters/status", params={"interval": interval})


def pending(client: ApiClient, page_size: float) -> list[dict]:
    """The cluster's submissions waiting for sbatch, all pages; asking claims them for this agent instance (named
    by ``INSTANCE_HEADER`` on the client's session)."""
    return _pages(client, f"{AGENT}/pending", page_size)


def active(client: ApiClient, page_size: float) -> list[dict]:
    """The cluster's submissions whose job has not ended yet, all pages."""
    return _pages(client, f"{AGENT}/active", page_size)


def submitted(client: ApiClient, submission_id: int, job_id: int, state: JobState | None = None) -> str:
    """Report a submission's job id (with the job's state when known, else ``NEW_JOB_STATE``); the state reported."""
    reported_state = state.state if state else NEW_JOB_STATE
    body: dict[str, object] = {"id": submission_id, "slurm_job_id": job_id, "slurm_job_state": reported_state}
    if state is not None:
        body["slurm_job_info"] = state.info()
    client.json("POST", f"{AGENT}/submitted", json=body)
    return reported_state


def submitted_many(client: ApiClient, reports: list[tuple[int, int]]) -> dict[str, Any]:
    """Report (submission id, job id) pairs of new jobs in one request (ours only: upstream servers answer 404);
    the answer has one result per pair."""
    items = [{"id": sid, "slurm_job_id": job, "slurm_job_state": NEW_JOB_STATE} for sid, job in reports]
    return client.json("POST", f"{AGENT}/submitted-many", json={"items": items})


def rejected(client: ApiClient, submission_id: int, message: str) -> None:
    """Reject a submission, saying why."""
    client.json("POST", f"{AGENT}/rejected", json={"id": submission_id, "report_message": message})


def update(client: ApiClient, submission_id: int, state: JobState) -> None:
    """Report a job's state (``PUT`` on the submission); an ended job's reason is its description."""
    body = {
        "slurm_job_id": state.job_id,
        "slurm_job_state": state.state,
        "slurm_job_info": state.info(),
        "slurm_job_state_reason": state.describe() if state.finished else state.reason,
    }
    client.json("PUT", f"{AGENT}/{submission_id}", json=body)


def job_file(client: ApiClient, job_script_id: Any, name: str) -> bytes:
    """One file of a job script, as stored (the CLI's endpoint: its path and quoting are written there once)."""
    return endpoints.job_script_file(client, job_script_id, name).content


def sweep(client: ApiClient, marked: list[tuple[int, int, int]]) -> dict[str, Any]:
    """Ask which marked jobs, (submission id, job id, creation stamp) each, Jobbergate does not know (ours only:
    upstream servers answer 404); the answer has a verdict per job."""
    jobs = [
        {"id": submission_id, "slurm_job_id": job_id, "created": created} for submission_id, job_id, created in marked
    ]
    return client.json("POST", f"{AGENT}/sweep", json={"jobs": jobs})


def swept(client: ApiClient, submission_id: int, job_id: int, message: str) -> None:
    """A progress entry on the submission saying which job was cancelled (ours only: upstream servers answer 404)."""
    client.json("POST", f"{AGENT}/swept", json={"id": submission_id, "slurm_job_id": job_id, "report_message": message})


class OutputNotServed(Exception):
    """The server has no output endpoints (an upstream server): the agent stops shipping output."""


def output(client: ApiClient, submission_id: int, stream: str, offset: int, content: bytes, *, complete: bool) -> int:
    """Append ``content`` to a submission's ``stream`` at ``offset`` (ours only); the stream's length afterwards. A
    409 is not an error here: it tells the server's length, and the caller resumes from there."""
    params: dict[str, object] = {"offset": offset, **({"complete": "true"} if complete else {})}
    try:
        answer = client.json(
            "PUT",
            f"{AGENT}/{submission_id}/output/{endpoints.segment(stream)}",
            params=params,
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        )
    except ApiError as error:
        body = error.body if isinstance(error.body, dict) else {}
        if error.status == 409 and isinstance(body.get("length"), int):
            return body["length"]
        if error.status in (404, 405) and "length" not in body and "was not found for cluster" not in error.message:
            raise OutputNotServed(str(error)) from None
        raise
    return int(answer["length"])


@dataclass(frozen=True)
class OutputPiece:
    """A chunk of a submission's stream to append at ``offset``; ``complete`` with a job's last bytes."""

    submission_id: int
    stream: str
    offset: int
    content: bytes
    complete: bool = False


class BatchNotServed(Exception):
    """The server refused a batch of output as a whole (a server of ours from before batches, upstream, a proxy's
    body limit): the agent sends one request per chunk instead."""


def output_many(client: ApiClient, pieces: list[OutputPiece]) -> list[dict]:
    """Append many chunks in one request (ours only): one result per piece, in order, each with the ``status_code``
    the single append would have answered and, for 200 and 409, the stream's ``length``."""
    body = {
        "pieces": [
            {
                "id": piece.submission_id,
                "stream": piece.stream,
                "offset": piece.offset,
                "content": base64.b64encode(piece.content).decode("ascii"),
                "complete": piece.complete,
            }
            for piece in pieces
        ]
    }
    try:
        answer = client.json("PUT", f"{AGENT}/output", json=body)
    except ApiError as error:
        if unavailable(error) or error.status >= 500:
            raise
        raise BatchNotServed(str(error)) from None
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != len(pieces):
        # A success without one result per piece is an answer cut on its way (a proxy, a dropped connection), not
        # a server without the batch path: the cycle fails and the next one asks again.
        raise ApiError("The answer to a batch of output came incomplete", status=0)
    return results


def _pages(client: ApiClient, path: str, page_size: float) -> list[dict]:
    return list(client.pages(path, size=int(page_size)))
