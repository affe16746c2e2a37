"""Files on the user's side: packing an application folder into an archive, unpacking a download safely, and
saving a job script's files. No Click here: failures are ``errors.CliError`` (an unfit folder a ``UsageProblem``)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from jobbergate_cli import endpoints
from jobbergate_cli.contract import is_ignored, local_file_name
from jobbergate_cli.errors import CliError, UsageProblem


def config_file(folder: Path) -> Path:
    """The jobbergate.yaml of an application folder."""
    path = folder / "jobbergate.yaml"
    if not path.is_file():
        raise UsageProblem(f"{folder} is not an application folder: it has no jobbergate.yaml")
    return path


def pack(folder: Path) -> bytes:
    """A tar.gz of an application folder (jobbergate.yaml, jobbergate.py, templates/), links refused."""
    config_file(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            # Hidden files and folders (.git, .venv, .DS_Store), caches: never part of an application (the server
            # skips them too), and a .git or .venv could hold more than the server accepts.
            if is_ignored(relative.as_posix()):
                continue
            if path.is_symlink():
                raise UsageProblem(f"{relative} is a link; an application folder holds plain files")
            if path.is_file():
                archive.add(path, arcname=relative.as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, destination: Path) -> list[Path]:
    """Extract a downloaded application archive below ``destination`` (paths outside it are refused)."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [member for member in archive.getmembers() if member.isfile()]
        archive.extractall(destination, members=members, filter="data")
    return [destination / member.name for member in members]


def save_job_script_files(client, job_script_id: int, directory: Path, files: list[dict] | None = None) -> list[Path]:
    """Download every file of a job script into ``directory`` (its rows from the API unless given); their paths.

    A file keeps only the last part of its name (``contract.local_file_name``), so nothing lands outside
    ``directory``."""
    if files is None:
        files = endpoints.JOB_SCRIPTS.get(client, job_script_id)["files"]
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for row in files:
        name = local_file_name(row["filename"])
        if name is None:
            raise CliError(f"Job script {job_script_id} has a file with no usable name: {row['filename']!r}.")
        content = endpoints.job_script_file(client, job_script_id, row["filename"])
        (directory / name).write_bytes(content.content)
        paths.append(directory / name)
    return paths
