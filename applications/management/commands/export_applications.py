"""``manage.py export_applications OUTPUT [--identifier X ...] [--format folder|tar.gz|zip]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from applications import services
from applications.bundle import write_archive
from applications.models import JobScriptTemplate


def export_application(template: JobScriptTemplate, output: Path, archive_format: str) -> Path:
    """Write one application as a folder or an archive below ``output``; return what was written."""
    name = template.identifier or f"application-{template.pk}"
    if archive_format == "folder":
        for relative, content in services.application_folder(template).items():
            target = output / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return output / name
    target = output / f"{name}.{archive_format}"
    target.write_bytes(write_archive(services.application_folder(template, root=name), archive_format))
    return target


class Command(BaseCommand):
    help = (
        "Write applications back as folders or archives, ready for import_applications. "
        "Example: manage.py export_applications backup/ --format tar.gz"
    )

    def add_arguments(self, parser):
        parser.add_argument("output", help="Folder to write into (created when missing).")
        parser.add_argument("--identifier", action="append", default=[], help="Only these (repeatable).")
        parser.add_argument("--format", choices=["folder", "tar.gz", "zip"], default="folder")
        parser.add_argument("--include-archived", action="store_true")

    def handle(self, *args, output, identifier, format, include_archived, **options):
        templates = JobScriptTemplate.objects.order_by("id")
        if identifier:
            templates = templates.filter(identifier__in=identifier)
            missing = sorted(set(identifier) - set(templates.values_list("identifier", flat=True)))
            if missing:
                raise CommandError(f"No application with identifier {', '.join(missing)}")
        if not include_archived:
            templates = templates.filter(is_archived=False)
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        count = 0
        for template in templates:
            written = export_application(template, folder, format)
            self.stdout.write(f"exported  {template.identifier or template.pk}  -> {written}")
            count += 1
        self.stdout.write(f"{count} application(s) exported.")
