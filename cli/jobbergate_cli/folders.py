"""Application folders on the user's side: packing one into an archive and unpacking a download safely."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

SKIPPED = {"__pycache__", ".git", ".DS_Store"}


class FolderError(Exception):
    pass


def pack(folder: Path) -> bytes:
    """A tar.gz of an application folder (jobbergate.yaml, jobbergate.py, templates/), links refused."""
    if not (folder / "jobbergate.yaml").is_file():
        raise FolderError(f"{folder} is not an application folder: it has no jobbergate.yaml")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if any(part in SKIPPED for part in relative.parts) or path.suffix == ".pyc":
                continue
            if path.is_symlink():
                raise FolderError(f"{relative} is a link; an application folder holds plain files")
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
