"""Abstract bases shared by the three resources (applications, job scripts, job submissions) and their files."""

from __future__ import annotations

import secrets
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from jobbergate import files
from jobbergate.prepared import (
    PreparedInsert,
    PreparedQuery,
    PreparedValueError,
    hold_children,
    prefetch_children,
)
from jobbergate.principal import Principal
from jobbergate.validation import display_text_problem


def validate_visible_text(value: str) -> None:
    """Names and descriptions are shown to others (``display_text_problem``): for forms such as the admin's."""
    if value and (problem := display_text_problem(value, what="This text")):
        raise ValidationError(problem)


class ResourceQuerySet(models.QuerySet):
    """Queries every resource answers; visibility rules are overridden per resource."""

    def visible_to(self, principal: Principal) -> ResourceQuerySet:
        """Rows the principal may read. Base rule: a shared catalogue, everything is visible."""
        return self.all()

    def owned_by(self, principal: Principal) -> ResourceQuerySet:
        return self.filter(owner_email=principal.email)


class PrivateResourceQuerySet(ResourceQuerySet):
    """Rows readable only by their owner, maintainers and admins."""

    def visible_to(self, principal: Principal) -> ResourceQuerySet:
        if principal.is_privileged:
            return self.all()
        if not principal.email:
            return self.none()
        return self.filter(owner_email=principal.email)


def visible_row(
    model: type[models.Model],
    principal: Principal,
    value,
    *,
    by: str = "pk",
    related: tuple[str, ...] = (),
    shaped: tuple[str, ...] = (),
    children: str | None = None,
):
    """The row of ``model`` whose field ``by`` (default its id) is ``value``, if ``principal`` may read it (its
    queryset's ``visible_to``), with the ``related`` rows it shows beside it (``select_related``) and what the
    queryset methods named in ``shaped`` add to it (annotations, such as ``JobScriptQuerySet.with_entrypoint_flag``:
    read in the same query); None when there is no such row for them, or ``value`` cannot be one of that field.

    ``children`` names a reverse foreign key (an application's ``template_files``) to read with the row, left as
    ``prefetch_children`` leaves it: in the same query, the children joined to the row they point at, when it has
    any (a row with none, which a render refuses anyway, costs the row's own read and ``prefetch_children`` besides).
    Not with ``related`` or ``shaped``.

    The read every detail request and every submission makes, so it runs as a prepared query
    (``jobbergate.prepared``): one per model, field, related rows and kind of caller (their permissions, and whether
    they have an e-mail and a client id), whose e-mail and client id are its values; ``visible_to`` may read only
    those three of a principal."""
    # visible_to reads a principal's e-mail and client id by truth: an empty one is no e-mail, no client id.
    email, client_id = principal.email or None, principal.client_id or None
    caller = (frozenset(principal.permissions), email is None, client_id is None)
    values = {"value": value}
    if email is not None:
        values["email"] = email
    if client_id is not None:
        values["client_id"] = client_id
    try:
        if children is not None:
            if related or shaped:
                raise TypeError("visible_row reads children only with the row alone (no related, no shaped)")
            found = _visible_children_query(model, by, children, *caller).all(**values)
            if found:
                row = getattr(found[0], model._meta.get_field(children).field.name)  # select_related: the parent
                hold_children(row, children, found)
                return row
        row = _visible_row_query(model, by, tuple(related), tuple(shaped), *caller).first(**values)
    except PreparedValueError:  # as DRF's get_object_or_404: a value that cannot be one names no row
        return None
    if row is not None and children is not None:
        prefetch_children(row, children)
    return row


def _caller_fields(model, by, no_email, no_client_id) -> dict[str, models.Field]:
    """The values of a visible-row query: the looked-up value, and the caller's e-mail and client id if they have
    them."""
    fields = {"value": model._meta.pk if by == "pk" else model._meta.get_field(by)}
    if not no_email:
        fields["email"] = models.CharField()
    if not no_client_id:
        fields["client_id"] = models.CharField()
    return fields


@lru_cache(maxsize=256)
def _visible_row_query(model, by, related, shaped, permissions, no_email, no_client_id) -> PreparedQuery:
    def build(value, email=None, client_id=None):
        caller = Principal(email=email, permissions=permissions, client_id=client_id)
        rows = model.objects.visible_to(caller).select_related(*related)
        for method in shaped:
            rows = getattr(rows, method)()
        return rows.filter(**{by: value})

    fields = _caller_fields(model, by, no_email, no_client_id)
    return PreparedQuery(build, optional=frozenset({"email", "client_id"}), **fields)


@lru_cache(maxsize=256)
def _visible_children_query(model, by, children, permissions, no_email, no_client_id) -> PreparedQuery:
    foreign_key = model._meta.get_field(children).field

    def build(value, email=None, client_id=None):
        caller = Principal(email=email, permissions=permissions, client_id=client_id)
        parents = model.objects.visible_to(caller).filter(**{by: value})
        rows = foreign_key.model._default_manager.filter(**{f"{foreign_key.name}__in": parents})
        return rows.select_related(foreign_key.name)

    fields = _caller_fields(model, by, no_email, no_client_id)
    return PreparedQuery(build, optional=frozenset({"email", "client_id"}), **fields)


class Resource(PreparedInsert, models.Model):
    """Fields every resource row carries on the wire: name, owner, archive flag, clone lineage, timestamps."""

    name = models.CharField(max_length=255, db_index=True, validators=[validate_visible_text])
    description = models.TextField(
        max_length=255, blank=True, default="", validators=[validate_visible_text, MaxLengthValidator(255)]
    )
    owner_email = models.CharField(max_length=255, db_index=True)
    is_archived = models.BooleanField(default=False, db_index=True)
    cloned_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="clones", db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ResourceQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    def is_owned_by(self, principal: Principal) -> bool:
        return bool(principal.email) and self.owner_email == principal.email


class StoredFile(PreparedInsert, models.Model):
    """A named file whose bytes live in the configured storage; ``storage_key`` points at them."""

    filename = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=255, editable=False)
    size = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    storage_prefix = "files"
    parent_id: int

    class Meta:
        abstract = True
        ordering = ["filename"]

    def __str__(self) -> str:
        return self.filename

    def read_bytes(self) -> bytes:
        return files.load_content(self.storage_key)

    def read_text(self) -> str:
        return self.read_bytes().decode("utf-8")

    def replace_content(self, content: bytes) -> None:
        """Point this row at new bytes; the old bytes go once the transaction commits. Caller saves.

        The bytes are stored first, under ``<storage_prefix>/<one of 256 folders>/<random hex>``: the key needs
        nothing of the row or its parent, so a new parent and its files can be written in one statement
        (``insert_together``), no folder is made per row, and none is left empty when a row goes."""
        old_key = self.storage_key
        self.storage_key = files.store_content(f"{self.storage_prefix}/{secrets.token_hex(1)}", content)
        self.size = len(content)
        files.discard_content([old_key])
