"""The Jobbergate API as the command calls it, with no Click in it: one function per endpoint, each path and the
quoting of what goes into it written here once.

A ``Resource`` answers the calls every collection shares (a page of the list, one row, create, update, delete,
clone); the functions after it are the other endpoints. Each takes the transport (``client.ApiClient``) first and
returns the API's JSON (files: their bytes or the response); a failure is the transport's ``ApiError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import requests

    from jobbergate_cli.client import ApiClient


def segment(value: object) -> str:
    """``value`` as one path segment: quoted whole (``/``, ``?``, ``#``, ``%`` included), so the server gets back
    exactly the id, identifier or name given."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Resource:
    """A collection of the API at ``path`` (``job-scripts``): its rows by id, or by identifier where it has them."""

    path: str

    def item(self, key: object, *rest: str) -> str:
        """The path of one row (``job-scripts/7``), or of something below it (``job-scripts/7/upload/SUPPORT``)."""
        return "/".join([self.path, segment(key), *rest])

    def list_page(self, client: ApiClient, **params) -> dict[str, Any]:
        """One page of the list (``items``, ``page``, ``pages``, ``total``), as the list conventions select it."""
        return client.get(self.path, **params)

    def get(self, client: ApiClient, key: object) -> dict[str, Any]:
        return client.get(self.item(key))

    def create(self, client: ApiClient, fields: dict[str, Any]) -> dict[str, Any]:
        return client.json("POST", self.path, json=fields)

    def update(self, client: ApiClient, key: object, fields: dict[str, Any]) -> dict[str, Any]:
        return client.json("PUT", self.item(key), json=fields)

    def delete(self, client: ApiClient, key: object) -> None:
        client.json("DELETE", self.item(key))

    def clone(self, client: ApiClient, key: object, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """A copy of the row, changed by ``fields`` (no body at all when None)."""
        return client.json("POST", f"{self.path}/clone/{segment(key)}", json=fields)


APPLICATIONS = Resource("job-script-templates")
JOB_SCRIPTS = Resource("job-scripts")
JOB_SUBMISSIONS = Resource("job-submissions")


def upload_application(
    client: ApiClient, key: object, archive: bytes, *, filename: str, params: dict[str, str]
) -> dict[str, Any]:
    """Replace an application's files (or, with ``create_only``, create it) from a tar.gz of its folder."""
    return client.json(
        "PUT",
        APPLICATIONS.item(key, "application"),
        params=params,
        files={"archive": (filename, archive, "application/gzip")},
    )


def download_application(client: ApiClient, key: object) -> bytes:
    """An application's folder as a tar.gz."""
    return client.request("GET", APPLICATIONS.item(key, "application"), params={"archive_format": "tar.gz"}).content


def workflow_source(client: ApiClient, application_id: object) -> str:
    """The text of an application's upstream workflow (its jobbergate.py)."""
    return client.request("GET", APPLICATIONS.item(application_id, "upload", "workflow")).text


def render_job_script(client: ApiClient, application_id: object, body: dict[str, Any]) -> dict[str, Any]:
    """A new job script rendered on the server from an application (``create_request`` and ``render_request``)."""
    return client.json("POST", f"{JOB_SCRIPTS.path}/render-from-template/{segment(application_id)}", json=body)


def upload_job_script_file(
    client: ApiClient, job_script_id: object, file_type: str, filename: str, content: bytes
) -> dict[str, Any]:
    """Add one file (``ENTRYPOINT`` or ``SUPPORT``) to a job script."""
    return client.json(
        "PUT", JOB_SCRIPTS.item(job_script_id, "upload", file_type), files={"upload_file": (filename, content)}
    )


def job_file_path(job_script_id: object, filename: str) -> str:
    """The API path of one job-script file: the name quoted whole (``%``, ``?``, ``#``, ``/`` and ``\\`` included), so
    the server gets back exactly the name it stored."""
    return JOB_SCRIPTS.item(job_script_id, "upload", segment(filename))


def job_script_file(client: ApiClient, job_script_id: object, filename: str) -> requests.Response:
    """One file of a job script: the response, for its ``content`` (bytes) or ``text`` (decoded as the server says)."""
    return client.request("GET", job_file_path(job_script_id, filename))


def cancel_submission(client: ApiClient, key: object) -> dict[str, Any]:
    return client.json("PUT", f"{JOB_SUBMISSIONS.path}/cancel/{segment(key)}")


@dataclass(frozen=True)
class OutputPiece:
    """Bytes of a job's stdout or stderr and where they sit in the stream (the reader's headers)."""

    content: bytes
    offset: int
    next_offset: int
    length: int
    complete: bool
    dropped: str | None  # "FROM-TO" when the server dropped bytes past its cap


def job_output(client: ApiClient, key: object, stream: str, *, offset: int = 0, limit: int | None = None):
    """The bytes of a submission's ``stream`` (stdout or stderr) from ``offset``, at most ``limit`` of them."""
    params = {"offset": offset, **({"limit": limit} if limit else {})}
    response = client.request("GET", JOB_SUBMISSIONS.item(key, "output", segment(stream)), params=params)
    headers = response.headers
    return OutputPiece(
        content=response.content,
        offset=int(headers.get("X-Jobbergate-Offset", offset)),
        next_offset=int(headers.get("X-Jobbergate-Next-Offset", offset + len(response.content))),
        length=int(headers.get("X-Jobbergate-Length", 0)),
        complete=headers.get("X-Jobbergate-Complete") == "true",
        dropped=headers.get("X-Jobbergate-Dropped"),
    )


def cluster_status(client: ApiClient, cluster: str) -> dict[str, Any]:
    """When a cluster's agent last reported and whether that is recent enough (``is_healthy``)."""
    return client.get(f"clusters/status/{segment(cluster)}")
