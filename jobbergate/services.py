"""Services shared by every resource: storing, renaming, deleting and copying the files of a row.

Resource apps call these from their own ``services.py``; views, admin actions and management commands never
touch file rows or storage directly.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Model, Sum
from django.utils import timezone

from jobbergate import files
from jobbergate.choices import FileType
from jobbergate.errors import Conflict, Invalid, Malformed, NotFound, TooLarge
from jobbergate.models import StoredFile
from jobbergate.validation import check_filename


def parse_file_type(value: str) -> FileType:
    """The ``file_type`` path parameter (ENTRYPOINT or SUPPORT, any case)."""
    try:
        return FileType(value.upper())
    except ValueError:
        raise Malformed(f"file_type must be one of {', '.join(FileType.values)}, got {value[:50]!r}.") from None


def check_size(filename: str, size: int) -> None:
    """The one upload limit of a file (``JOBBERGATE_MAX_UPLOAD_BYTES``): TooLarge past it, however the file came."""
    if size > settings.MAX_UPLOAD_BYTES:
        raise TooLarge(f"File {filename!r} is {size} bytes, over the limit of {settings.MAX_UPLOAD_BYTES}.")


def touch(parent: Model) -> None:
    """Mark the parent row as changed when one of its files changes."""
    type(parent).objects.filter(pk=parent.pk).update(updated_at=timezone.now())


def put_file(
    *,
    parent: Model,
    related_name: str,
    filename: str,
    content: bytes | None,
    check_content: Callable[[str, bytes], None],
    previous_filename: str | None = None,
    **fields,
) -> StoredFile:
    """Create, replace or rename one file of ``parent`` (its ``related_name`` manager) and return the row.

    ``previous_filename`` renames that file to ``filename``; ``content`` (when given) replaces the bytes, once
    ``check_content(filename, content)`` accepted them (parsing may take a while: it runs before the transaction,
    holding no lock); ``fields`` sets other columns (e.g. ``file_type``). A new file needs content. A row holds
    at most ``APPLICATION_MAX_FILES`` files of at most ``APPLICATION_MAX_BYTES`` together.
    """
    filename = check_filename(filename)
    if content is not None:
        check_size(filename, len(content))
        check_content(filename, content)
    if previous_filename:
        check_filename(previous_filename)
    return _store_file(
        parent=parent,
        related_name=related_name,
        filename=filename,
        content=content,
        previous_filename=previous_filename,
        **fields,
    )


@transaction.atomic
def _store_file(*, parent: Model, related_name: str, filename: str, content, previous_filename, **fields):
    manager = getattr(parent, related_name)
    if previous_filename and previous_filename != filename:
        row = manager.select_for_update().filter(filename=previous_filename).first()
        if row is None:
            raise Invalid(f"There is no file named {previous_filename!r} to rename.")
        if manager.filter(filename=filename).exists():
            raise Conflict(f"A file named {filename!r} already exists.")
        row.filename = filename
    else:
        row = manager.select_for_update().filter(filename=filename).first()
    if row is None:
        if content is None:
            raise Invalid(f"upload_file is required to create the file {filename!r}.")
        row = manager.model(parent=parent, filename=filename)
    if content is not None:
        check_room(manager, replacing=row.pk, new_bytes=len(content))
    for name, value in fields.items():
        setattr(row, name, value)
    try:
        row.validate_constraints()
    except ValidationError as error:
        raise Conflict(" ".join(error.messages)) from None
    if content is not None:
        row.replace_content(content)
    row.save()
    touch(parent)
    return row


def check_room(manager, *, replacing: int | None, new_bytes: int) -> None:
    """A row's files: at most ``APPLICATION_MAX_FILES`` of them, ``APPLICATION_MAX_BYTES`` together (the bounds of
    an application folder, so that whatever is stored can be downloaded, cloned and rendered at a bounded cost)."""
    others = manager.exclude(pk=replacing) if replacing else manager.all()
    stats = others.aggregate(count=Count("pk"), total=Sum("size"))
    if replacing is None and stats["count"] >= settings.APPLICATION_MAX_FILES:
        raise Invalid(f"There are already {stats['count']} files here; the limit is {settings.APPLICATION_MAX_FILES}.")
    if (stats["total"] or 0) + new_bytes > settings.APPLICATION_MAX_BYTES:
        raise TooLarge(f"The files here would hold more than {settings.APPLICATION_MAX_BYTES:,} bytes together.")


@transaction.atomic
def delete_file(*, parent: Model, related_name: str, filename: str, check=check_filename) -> None:
    """Delete one file of ``parent``; its bytes go when the transaction commits."""
    row = getattr(parent, related_name).filter(filename=check(filename)).first()
    if row is None:
        raise NotFound(f"There is no file named {filename!r}.")
    files.discard_content([row.storage_key])
    row.delete()
    touch(parent)


def copy_files(rows, *, new_parent: Model, **overrides) -> list[StoredFile]:
    """Copy file rows (and their bytes) to ``new_parent``."""
    copies = []
    for row in rows:
        copy = type(row)(parent=new_parent, filename=row.filename, **{**_copied_columns(row), **overrides})
        copy.replace_content(row.read_bytes())
        copy.save()
        copies.append(copy)
    return copies


def _copied_columns(row: StoredFile) -> dict:
    skip = {"id", "parent", "filename", "storage_key", "size", "created_at", "updated_at"}
    return {
        field.attname: getattr(row, field.attname)
        for field in row._meta.concrete_fields
        if field.name not in skip and field.attname not in {"parent_id"}
    }


def discard_files_of(rows) -> None:
    """Schedule the bytes of ``rows`` for deletion after commit (before the rows are deleted)."""
    files.discard_content([row.storage_key for row in rows])


def set_archived(queryset, *, archived: bool) -> int:
    """Archive or unarchive every row of ``queryset``; return how many changed."""
    return queryset.exclude(is_archived=archived).update(is_archived=archived, updated_at=timezone.now())
