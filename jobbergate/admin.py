"""Admin bases shared by the resource apps: list columns, filters, file inlines and the archive/clone actions.

Actions call the same services as the API, so an operator's click and a client's request change rows the same way.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import format_html

from jobbergate.errors import DomainError
from jobbergate.services import set_archived
from jobbergate.syntax import JSONTextError, load_json

PREVIEW_LIMIT = 20_000


class _BoundedJSONDecoder(json.JSONDecoder):
    """Django's JSON form field parses with this: the API's strict ``load_json`` (depth 64, finite numbers)."""

    def decode(self, s, *args, **kwargs):
        try:
            return load_json(s)
        except JSONTextError as error:
            raise json.JSONDecodeError(str(error), s, 0) from None


class BoundedJSONFormField(forms.JSONField):
    """A JSON text area read as strictly as an API body, with the reason shown next to the field."""

    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "decoder": _BoundedJSONDecoder})

    def to_python(self, value):
        if isinstance(value, str) and value not in self.empty_values and not self.disabled:
            try:
                load_json(value)
            except JSONTextError as error:
                raise ValidationError(str(error), code="invalid") from None
        return super().to_python(value)


class ResourceAdmin(admin.ModelAdmin):
    """Columns, filters and actions every resource shares; subclasses add theirs and a ``clone_service``."""

    list_display = ("id", "name", "owner_email", "is_archived", "created_at", "updated_at")
    list_display_links = ("id", "name")
    list_filter = ("is_archived", "created_at", "updated_at")
    search_fields = ("name", "description", "owner_email")
    readonly_fields = ("cloned_from", "created_at", "updated_at")
    raw_id_fields = ("cloned_from",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50
    actions = ["archive", "unarchive", "clone"]
    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}

    def clone_service(self, *, source, owner_email):
        raise NotImplementedError

    @admin.action(description="Archive selected rows")
    def archive(self, request, queryset):
        count = set_archived(queryset, archived=True)
        self.message_user(request, f"Archived {count} row(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected rows")
    def unarchive(self, request, queryset):
        count = set_archived(queryset, archived=False)
        self.message_user(request, f"Unarchived {count} row(s).", messages.SUCCESS)

    @admin.action(description="Clone selected rows (you own the copies)")
    def clone(self, request, queryset):
        clones, refused = [], []
        for row in queryset:  # each clone is its own transaction: one refused row leaves the others cloned
            try:
                clones.append(self.clone_service(source=row, owner_email=request.user.email or row.owner_email))
            except DomainError as error:
                refused.append(f"#{row.pk}: {error.text}")
        if clones:
            ids = ", ".join(f"#{clone.pk}" for clone in clones)
            self.message_user(request, f"Created {len(clones)} clone(s): {ids}.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not cloned: {'; '.join(refused)}", messages.ERROR)


class StoredFileInline(admin.StackedInline):
    """Files of a row, read-only, with their contents shown as text."""

    extra = 0
    can_delete = False
    show_change_link = False
    fields = ("filename", "size", "updated_at", "contents")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Contents")
    def contents(self, row) -> str:
        try:
            text = row.read_text()
        except (OSError, UnicodeDecodeError) as error:
            return f"(cannot read the stored contents: {error.__class__.__name__})"
        if len(text) > PREVIEW_LIMIT:
            text = text[:PREVIEW_LIMIT] + "\n… (truncated)"
        return format_html('<pre class="jobbergate-file">{}</pre>', text)


admin.site.site_header = "Jobbergate administration"
admin.site.site_title = "Jobbergate"
admin.site.index_title = "Applications, job scripts and submissions"
