"""Whole application folders: reading them safely from archives or uploads, checking them, writing them back.

An application folder holds ``jobbergate.yaml``, an optional ``jobbergate.py`` and ``templates/`` (any depth).
Archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) are read member by member without extracting anything to disk:
absolute paths, ``..``, links, devices and duplicate names are refused, and the number of files and the bytes
after decompression are bounded (zip and gzip bombs). Nothing here runs ``jobbergate.py``: it is only parsed.
"""

from __future__ import annotations

import ast
import io
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from applications.questions import QuestionsError, check_questions

CONFIG_FILE = "jobbergate.yaml"
WORKFLOW_FILE = "jobbergate.py"
TEMPLATES_DIR = "templates/"
JINJA_SUFFIXES = (".j2", ".jinja2")


class BundleError(Exception):
    """An application folder or archive that cannot be accepted; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class BundleLimits:
    max_files: int = 200
    max_bytes: int = 20 * 1024 * 1024


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

    @property
    def entrypoint(self) -> str:
        return strip_templates_prefix(self.runtime_config["default_template"])


def strip_templates_prefix(path: str) -> str:
    return path[len(TEMPLATES_DIR) :] if path.startswith(TEMPLATES_DIR) else path


def check_relative_path(name: str) -> str:
    """A safe relative path inside the folder (``a/b.j2``): no absolute path, ``..``, backslash, NUL or empty part."""
    if not name or len(name) > 255:
        raise BundleError(f"{name[:60]!r}: a path must have 1 to 255 characters")
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise BundleError(f"{name!r}: absolute paths, backslashes and NUL are not allowed")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BundleError(f"{name!r}: '..', '.' and empty path parts are not allowed")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise BundleError(f"{name!r}: control characters are not allowed")
    return name


# Reading --------------------------------------------------------------------------------------------------


class _Collector:
    """Collects members with the limits applied as they are read."""

    def __init__(self, limits: BundleLimits):
        self.limits = limits
        self.files: dict[str, bytes] = {}
        self.total = 0

    def add(self, name: str, read, declared_size: int) -> None:
        name = name[2:] if name.startswith("./") else name
        check_relative_path(name)
        if name in self.files:
            raise BundleError(f"{name!r} appears twice")
        if len(self.files) >= self.limits.max_files:
            raise BundleError(f"more than {self.limits.max_files} files")
        if self.total + declared_size > self.limits.max_bytes:
            raise BundleError(f"more than {self.limits.max_bytes:,} bytes after decompression")
        content = read(self.limits.max_bytes - self.total + 1)
        self.total += len(content)
        if self.total > self.limits.max_bytes:
            raise BundleError(f"more than {self.limits.max_bytes:,} bytes after decompression")
        self.files[name] = content


def read_archive(data: bytes, limits: BundleLimits) -> dict[str, bytes]:
    """The files of a tar (optionally gzip-compressed) or zip archive, checked member by member."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _read_zip(data, limits)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError):
        raise BundleError("not a .tar.gz, .tgz, .tar or .zip archive") from None
    collector = _Collector(limits)
    try:
        with archive:
            for member in archive:
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    raise BundleError(f"{member.name!r} is a link; links are not allowed")
                if not member.isfile():
                    raise BundleError(f"{member.name!r} is a device, FIFO or other special file")
                handle = archive.extractfile(member)
                collector.add(member.name, handle.read, member.size)
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise BundleError(f"the archive is damaged: {error.__class__.__name__}") from None
    return strip_common_folder(collector.files)


def _read_zip(data: bytes, limits: BundleLimits) -> dict[str, bytes]:
    collector = _Collector(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.is_dir():
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


_parser = SandboxedEnvironment()


def _text(name: str, content: bytes, problems: list[str]) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{name}: not UTF-8 text")
        return None


def parse_config(source: bytes) -> dict[str, Any]:
    """``jobbergate.yaml`` with the safe loader only: a tag that would construct an object is an error."""
    try:
        config = yaml.safe_load(source.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{CONFIG_FILE}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise BundleError(f"{CONFIG_FILE}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise BundleError(f"{CONFIG_FILE}: must be a mapping with jobbergate_config and application_config")
    for section in ("jobbergate_config", "application_config"):
        if config.get(section) is None:
            config[section] = {}
        if not isinstance(config[section], dict):
            raise BundleError(f"{CONFIG_FILE}: {section} must be a mapping")
    return config


def check_bundle(files: dict[str, bytes]) -> ApplicationBundle:
    """Check a whole folder and say everything that is wrong with it at once."""
    if CONFIG_FILE not in files:
        raise BundleError(f"{CONFIG_FILE} is missing")
    config = parse_config(files[CONFIG_FILE])
    problems: list[str] = []
    runtime_config = dict(config["jobbergate_config"])
    templates = {
        name[len(TEMPLATES_DIR) :]: content for name, content in files.items() if name.startswith(TEMPLATES_DIR)
    }
    others = sorted(set(files) - {CONFIG_FILE, WORKFLOW_FILE} - {TEMPLATES_DIR + name for name in templates})
    if others:
        problems.append(f"files outside templates/ are not part of an application: {', '.join(others[:5])}")
    if not templates:
        problems.append("templates/ holds no template")
    for name, content in templates.items():
        text = _text(f"templates/{name}", content, problems)
        if text is not None and name.endswith(JINJA_SUFFIXES):
            try:
                _parser.parse(text)
            except TemplateSyntaxError as error:
                problems.append(f"templates/{name}: Jinja2 syntax error on line {error.lineno}: {error.message}")
    workflow = files.get(WORKFLOW_FILE)
    if workflow is not None:
        text = _text(WORKFLOW_FILE, workflow, problems)
        if text is not None:
            try:
                ast.parse(text, filename=WORKFLOW_FILE)
            except (SyntaxError, ValueError) as error:
                problems.append(f"{WORKFLOW_FILE}: not valid Python (line {getattr(error, 'lineno', '?')})")
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
        subdirectories[:] = sorted(name for name in subdirectories if name not in IGNORED_NAMES)
        for name in sorted(filenames):
            if name in IGNORED_NAMES or name.endswith(".pyc"):
                continue
            full = Path(directory) / name
            relative = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise BundleError(f"{relative!r} is a link; links are not allowed")
            if not full.is_file():
                raise BundleError(f"{relative!r} is a device, FIFO or other special file")
            collector.add(relative, full.open("rb").read, full.stat().st_size)
        for name in subdirectories:
            if (Path(directory) / name).is_symlink():
                raise BundleError(f"{(Path(directory) / name).relative_to(root).as_posix()!r} is a link")
    return collector.files


IGNORED_NAMES = frozenset({"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints"})
