"""``manage.py import_applications PATH... --owner EMAIL [--dry-run]``: load application folders in bulk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from applications import services
from applications.bundle import CONFIG_FILE, read_archive, read_folder
from applications.models import JobScriptTemplate
from jobbergate.errors import DomainError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


@dataclass
class ImportResult:
    identifier: str
    outcome: str  # created, updated, unchanged, would create, would update, failed
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def identifier_for(path: Path) -> str:
    """The identifier an application gets from its folder or archive name (``My App.tar.gz`` -> ``my-app``)."""
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug if slug and not slug.isdigit() else f"app-{slug or 'unnamed'}"


def find_applications(paths: list[str]) -> list[Path]:
    """Folders with a jobbergate.yaml, archives, and the application folders inside a folder of folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
            found.append(path)
        elif (path / CONFIG_FILE).is_file():
            found.append(path)
        elif path.is_dir():
            children = sorted(
                child
                for child in path.iterdir()
                if (child / CONFIG_FILE).is_file() or (child.is_file() and child.name.endswith(ARCHIVE_SUFFIXES))
            )
            if not children:
                raise CommandError(f"{path}: no application folder or archive in it")
            found.extend(children)
        else:
            raise CommandError(f"{path}: not an application folder, an archive, or a folder of them")
    return found


def import_application(path: Path, *, owner: str | None, dry_run: bool = False) -> ImportResult:
    """Import one application folder or archive in its own transaction; never raises for a bad application."""
    identifier = identifier_for(path)
    try:
        limits = services.bundle_limits()
        files = read_archive(path.read_bytes(), limits) if path.is_file() else read_folder(path, limits)
        bundle = services.load_bundle(files)
    except DomainError as error:
        return ImportResult(identifier, "failed", error.text)
    except OSError as error:
        return ImportResult(identifier, "failed", f"cannot read: {error.strerror}")
    existing = JobScriptTemplate.objects.filter(identifier__iexact=identifier).first()  # uniqueness ignores case
    if existing is not None and services.application_folder(existing) == _normalised(bundle):
        return ImportResult(identifier, "unchanged")
    if existing is None and not owner:
        return ImportResult(identifier, "failed", "--owner is required to create applications")
    summary = f"{len(bundle.templates)} templates"
    if bundle.skipped:
        summary += f"; skipped (not part of an application): {', '.join(bundle.skipped)}"
    if dry_run:
        return ImportResult(identifier, "would update" if existing else "would create", summary)
    try:
        _, created = services.upsert_application(
            identifier=identifier,
            template=existing,
            bundle=bundle,
            owner_email=owner or existing.owner_email,
            name=None if existing else bundle.config.get("name") or identifier,
            description=bundle.config.get("description") if existing is None else None,
        )
    except DomainError as error:  # e.g. the identifier taken meanwhile, or a file over a limit
        return ImportResult(identifier, "failed", error.text)
    return ImportResult(identifier, "created" if created else "updated", summary)


def _normalised(bundle) -> dict[str, bytes]:
    from applications.bundle import folder_files

    return folder_files(config_source=bundle.config_source, templates=bundle.templates, workflow=bundle.workflow)


class Command(BaseCommand):
    help = (
        "Import application folders or archives (.tar.gz, .tgz, .tar, .zip), or every application inside a folder of "
        "them: create or update each by identifier (its folder or archive name), each in its own transaction. "
        "Re-running changes nothing that did not change. Example: manage.py import_applications examples "
        "--owner admin@example.org"
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--owner", help="E-mail of the owner of applications that are created.")
        parser.add_argument("--dry-run", action="store_true", help="Check and report, change nothing.")

    def handle(self, *args, paths, owner, dry_run, **options):
        results = []
        for path in find_applications(paths):
            result = import_application(path, owner=owner, dry_run=dry_run)
            results.append(result)
            line = f"{result.outcome:>12}  {result.identifier}  ({path})"
            self.stdout.write(line + (f": {result.detail}" if result.detail else ""))
        failed = [result for result in results if result.failed]
        self.stdout.write(f"{len(results) - len(failed)} of {len(results)} applications imported without error.")
        if failed:
            raise CommandError(f"{len(failed)} application(s) failed: {', '.join(r.identifier for r in failed)}")
