"""Whole application folders: reading them safely from archives or uploads, checking them, writing them back.

An application folder holds ``jobbergate.yaml``, an optional ``jobbergate.py`` and ``templates/`` (any depth).
Archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``; tar also with bzip2 or xz) are read member by member without
extracting anything to disk: absolute paths, ``..``, links, devices and duplicate names are refused, and the number
of members (folders included), the bytes of each file and every byte read after decompression (headers included)
are bounded, so zip, gzip and header bombs stop at the limit. ``jobbergate.yaml`` is read as plain JSON values with
a bounded depth and size (aliases count each time they are used). Nothing here runs ``jobbergate.py``: it is only
parsed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from applications.questions import QuestionsError, check_questions
from jobbergate.errors import Invalid
from jobbergate.validation import (
    JINJA_SUFFIXES,
    JsonValueError,
    load_yaml,
    relative_path_problem,
)

CONFIG_FILE = "jobbergate.yaml"
WORKFLOW_FILE = "jobbergate.py"
TEMPLATES_DIR = "templates/"


class BundleError(Invalid):
    """An application folder or archive that cannot be accepted; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__(self.problems)


@dataclass(frozen=True)
class BundleLimits:
    """What one application may hold; the values come from settings (``applications.services.bundle_limits``)."""

    max_files: int  # members of an archive or files of a folder, folders included
    max_bytes: int  # bytes read after decompression, archive headers included
    max_file_bytes: int  # one file
    max_config_bytes: int  # jobbergate.yaml, and each JSON value stored from it


@dataclass
class ApplicationBundle:
    """A checked application folder, ready to be stored."""

    config: dict[str, Any]
    runtime_config: dict[str, Any]
    template_vars: dict[str, Any]
    templates: dict[str, bytes]
    supporting: set[str]
    workflow: bytes | None = None
    questions: list[dict[str, Any]] = field(default_factory=list)
    config_source: bytes = b""
    skipped: list[str] = field(default_factory=list)  # files of the folder that are not part of the application

    @property
    def entrypoint(self) -> str:
        return strip_templates_prefix(self.runtime_config["default_template"])


def strip_templates_prefix(path: str) -> str:
    return path[len(TEMPLATES_DIR) :] if path.startswith(TEMPLATES_DIR) else path


def check_relative_path(name: str) -> str:
    """A safe relative path inside the folder (``a/b.j2``), by the one rule of ``jobbergate.validation``."""
    if problem := relative_path_problem(name):
        raise BundleError(problem)
    return name


# Reading --------------------------------------------------------------------------------------------------


class _Collector:
    """Collects members with the limits applied as they are read."""

    def __init__(self, limits: BundleLimits):
        self.limits = limits
        self.files: dict[str, bytes] = {}
        self.members = 0
        self.total = 0

    def count_member(self) -> None:
        """Every member counts, folders too: an archive of a million empty folders is as costly as of files."""
        self.members += 1
        if self.members > self.limits.max_files:
            raise BundleError(f"more than {self.limits.max_files} members (files and folders)")

    def add(self, name: str, read, declared_size: int) -> None:
        name = name[2:] if name.startswith("./") else name
        check_relative_path(name)
        if name in self.files:
            raise BundleError(f"{name!r} appears twice")
        self.count_member()
        limit = self.limits.max_file_bytes
        if declared_size > limit:
            raise BundleError(f"{name!r} is larger than {limit:,} bytes, the limit for one file")
        content = read(limit + 1)
        if len(content) > limit:
            raise BundleError(f"{name!r} is larger than {limit:,} bytes, the limit for one file")
        self.total += len(content)
        if self.total > self.limits.max_bytes:
            raise BundleError(f"more than {self.limits.max_bytes:,} bytes after decompression")
        self.files[name] = content


class _BoundedReader:
    """A decompressed stream that refuses to hand out more than ``limit`` bytes in all (headers included)."""

    def __init__(self, raw, limit: int):
        self.raw = raw
        self.limit = limit
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        allowed = self.limit - self.count + 1
        data = self.raw.read(allowed if size is None or size < 0 or size > allowed else size)
        self.count += len(data)
        if self.count > self.limit:
            raise BundleError(f"more than {self.limit:,} bytes after decompression (archive headers included)")
        return data


def _decompressed(data: bytes):
    """The tar stream inside ``data``, by its magic number: gzip, bzip2, xz, or a plain tar."""
    if data[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=io.BytesIO(data))
    if data[:3] == b"BZh":
        return bz2.BZ2File(io.BytesIO(data))
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(io.BytesIO(data))
    return io.BytesIO(data)


def read_archive(data: bytes, limits: BundleLimits) -> dict[str, bytes]:
    """The files of a tar (optionally compressed) or zip archive, checked member by member."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _read_zip(data, limits)
    collector = _Collector(limits)
    stream = _BoundedReader(_decompressed(data), limits.max_bytes)
    try:
        # Stream mode ("r|"): members are read in order, straight from the bounded stream, never seeking back.
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                if member.isdir():
                    collector.count_member()
                    continue
                if member.issym() or member.islnk():
                    raise BundleError(f"{member.name!r} is a link; links are not allowed")
                if not member.isfile():
                    raise BundleError(f"{member.name!r} is a device, FIFO or other special file")
                handle = archive.extractfile(member)
                collector.add(member.name, handle.read, member.size)
    except tarfile.ReadError:
        if not collector.members:
            raise BundleError("not a .tar.gz, .tgz, .tar or .zip archive") from None
        raise BundleError("the archive is damaged: ReadError") from None
    except (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError) as error:
        raise BundleError(f"the archive is damaged: {error.__class__.__name__}") from None
    return strip_common_folder(collector.files)


def _read_zip(data: bytes, limits: BundleLimits) -> dict[str, bytes]:
    collector = _Collector(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > limits.max_files:
                raise BundleError(f"more than {limits.max_files} members (files and folders)")
            declared = sum(info.file_size for info in members)
            if declared > limits.max_bytes:
                raise BundleError(f"more than {limits.max_bytes:,} bytes after decompression")
            for info in members:
                if info.is_dir():
                    collector.count_member()
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise BundleError(f"{info.filename!r} is a link; links are not allowed")
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                    raise BundleError(f"{info.filename!r} is a device, FIFO or other special file")
                with archive.open(info) as handle:
                    collector.add(info.filename, handle.read, info.file_size)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
        raise BundleError(f"the archive is damaged: {error.__class__.__name__}") from None
    return strip_common_folder(collector.files)


def read_uploads(uploads: list[tuple[str, bytes]], limits: BundleLimits) -> dict[str, bytes]:
    """Files sent one by one (multipart), each named by its relative path in the folder."""
    collector = _Collector(limits)
    for name, content in uploads:
        collector.add(name, io.BytesIO(content).read, len(content))
    return strip_common_folder(collector.files)


def strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """``my-app/jobbergate.yaml`` ... becomes ``jobbergate.yaml`` ... when every file sits in one top folder."""
    if CONFIG_FILE in files or not files:
        return files
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        prefix = tops.pop() + "/"
        return {name[len(prefix) :]: content for name, content in files.items()}
    return files


# Checking -------------------------------------------------------------------------------------------------


def _text(name: str, content: bytes, problems: list[str]) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{name}: not UTF-8 text")
        return None


def parse_config(source: bytes, *, max_bytes: int) -> dict[str, Any]:
    """``jobbergate.yaml`` as plain JSON values (``jobbergate.validation.load_yaml``): no tag builds an object, and
    the file and what it holds are at most ``max_bytes`` (aliases count each time they are used)."""
    if len(source) > max_bytes:
        raise BundleError(f"{CONFIG_FILE}: larger than {max_bytes:,} bytes")
    try:
        config = load_yaml(source.decode("utf-8"), what=CONFIG_FILE, max_bytes=max_bytes)
    except UnicodeDecodeError:
        raise BundleError(f"{CONFIG_FILE}: not UTF-8 text") from None
    except JsonValueError as error:
        raise BundleError(str(error)) from None
    if not isinstance(config, dict):
        raise BundleError(f"{CONFIG_FILE}: must be a mapping with jobbergate_config and application_config")
    for section in ("jobbergate_config", "application_config"):
        if config.get(section) is None:
            config[section] = {}
        if not isinstance(config[section], dict):
            raise BundleError(f"{CONFIG_FILE}: {section} must be a mapping")
    return config


def check_bundle(
    files: dict[str, bytes],
    limits: BundleLimits,
    *,
    source_problems: Callable[[dict[str, str]], list[str]],
) -> ApplicationBundle:
    """Check a whole folder and say everything that is wrong with it at once.

    ``source_problems`` parses the Jinja2 templates and ``jobbergate.py`` (by file name) and says what is wrong with
    them; the server passes one that parses in a render worker, under its time and memory limits.
    """
    if CONFIG_FILE not in files:
        raise BundleError(f"{CONFIG_FILE} is missing")
    config = parse_config(files[CONFIG_FILE], max_bytes=limits.max_config_bytes)
    problems: list[str] = []
    runtime_config = dict(config["jobbergate_config"])
    templates = {
        name[len(TEMPLATES_DIR) :]: content
        for name, content in files.items()
        if name.startswith(TEMPLATES_DIR) and not is_ignored(name)
    }
    # What else a real folder holds (a README, example inputs, outputs) is skipped and named; hidden files, VCS
    # folders and caches are skipped without a word. All of it was read under the same limits as the rest.
    skipped = sorted(
        name
        for name in set(files) - {CONFIG_FILE, WORKFLOW_FILE} - {TEMPLATES_DIR + name for name in templates}
        if not is_ignored(name)
    )
    if not templates:
        problems.append("templates/ holds no template")
    sources: dict[str, str] = {}
    for name, content in templates.items():
        text = _text(f"templates/{name}", content, problems)
        if text is not None and name.endswith(JINJA_SUFFIXES):
            sources[f"templates/{name}"] = text
    workflow = files.get(WORKFLOW_FILE)
    if workflow is not None:
        text = _text(WORKFLOW_FILE, workflow, problems)
        if text is not None:
            sources[WORKFLOW_FILE] = text
    if sources:
        problems.extend(source_problems(sources))
    default = runtime_config.get("default_template")
    if not isinstance(default, str) or not default:
        problems.append(f"{CONFIG_FILE}: jobbergate_config.default_template is required")
    elif strip_templates_prefix(default) not in templates:
        problems.append(f"{CONFIG_FILE}: default_template {default!r} is not in templates/")
    supporting = runtime_config.get("supporting_files") or []
    if not isinstance(supporting, list) or not all(isinstance(item, str) for item in supporting):
        problems.append(f"{CONFIG_FILE}: supporting_files must be a list of template paths")
        supporting = []
    supporting_names = {strip_templates_prefix(item) for item in supporting}
    for name in sorted(supporting_names - set(templates)):
        problems.append(f"{CONFIG_FILE}: supporting file {name!r} is not in templates/")
    questions: list[dict[str, Any]] = []
    try:
        questions = check_questions(config.get("questions"))
    except QuestionsError as error:
        problems.extend(f"{CONFIG_FILE}: {problem}" for problem in error.problems)
    if problems:
        raise BundleError(problems)
    return ApplicationBundle(
        config=config,
        runtime_config=runtime_config,
        template_vars=dict(config["application_config"]),
        templates=templates,
        supporting=supporting_names,
        workflow=workflow,
        questions=questions,
        config_source=files[CONFIG_FILE],
        skipped=skipped,
    )


# Writing --------------------------------------------------------------------------------------------------


def folder_files(
    *, config_source: bytes, templates: dict[str, bytes], workflow: bytes | None, root: str = ""
) -> dict[str, bytes]:
    """The files of an application folder, by relative path (optionally below ``root/``)."""
    files = {CONFIG_FILE: config_source}
    if workflow is not None:
        files[WORKFLOW_FILE] = workflow
    files.update({TEMPLATES_DIR + name: content for name, content in templates.items()})
    return {posixpath.join(root, name) if root else name: content for name, content in sorted(files.items())}


def write_archive(files: dict[str, bytes], archive_format: str) -> bytes:
    """A ``tar.gz`` or ``zip`` of the files, with regular-file modes and no owners."""
    buffer = io.BytesIO()
    if archive_format == "zip":
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def read_folder(path, limits: BundleLimits) -> dict[str, bytes]:
    """The files of an application folder on disk; links and special files are refused, never followed."""
    import os
    from pathlib import Path

    root = Path(path)
    collector = _Collector(limits)
    for directory, subdirectories, filenames in os.walk(root, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if not is_ignored(name))
        for name in sorted(filenames):
            if is_ignored(name):
                continue
            full = Path(directory) / name
            relative = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise BundleError(f"{relative!r} is a link; links are not allowed")
            if not full.is_file():
                raise BundleError(f"{relative!r} is a device, FIFO or other special file")
            with full.open("rb") as handle:
                collector.add(relative, handle.read, full.stat().st_size)
        for name in subdirectories:
            if (Path(directory) / name).is_symlink():
                raise BundleError(f"{(Path(directory) / name).relative_to(root).as_posix()!r} is a link")
    return collector.files


IGNORED_NAMES = frozenset({"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints"})


def is_ignored(path: str) -> bool:
    """Hidden files and folders (``.git``, ``.DS_Store``...), ``__pycache__`` and ``*.pyc``: never part of an
    application, skipped without a word."""
    parts = path.split("/")
    return any(part.startswith(".") or part in IGNORED_NAMES for part in parts) or path.endswith(".pyc")
