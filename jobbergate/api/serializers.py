"""Serializer bases: the fields every resource row and every file row carries on the wire."""

from __future__ import annotations

import copy
import copyreg
import functools
from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F
from django.db.models.manager import BaseManager
from rest_framework import serializers
from rest_framework.settings import api_settings

from jobbergate.database import JSONRow, WireTimestamp, as_text, null_unless
from jobbergate.prepared import INTEGER_COLUMNS, TEXT_COLUMNS
from jobbergate.validation import display_text_problem, sbatch_argument_problem, sbatch_line_problem

RESOURCE_FIELDS = (
    "id",
    "name",
    "description",
    "owner_email",
    "is_archived",
    "cloned_from_id",
    "created_at",
    "updated_at",
)
RESOURCE_READ_ONLY = ("id", "owner_email", "cloned_from_id", "created_at", "updated_at")
FILE_FIELDS = ("parent_id", "filename", "created_at", "updated_at")


class FastRepresentationMixin:
    """Serialize rows without DRF's per-field machinery where a field is a plain attribute.

    DRF spends most of a read in building the serializer's fields from the model (``get_fields``, on every
    instance), ``Field.get_attribute`` and ``DateTimeField.enforce_timezone``; for the plain columns we use here the
    output is the attribute itself (datetimes as ISO 8601 with ``Z``, like DRF). So the representation follows a
    plan made once per serializer class from its readable fields, and an answer is written without building the
    fields at all. A class whose plan holds a field DRF must show (a method, a custom field) keeps a plan per
    instance, made from that instance's fields. The API tests compare both paths through the wire shapes they
    assert, and jobbergate/tests/test_serializers.py compares them with plain DRF.

    So a subclass's ``get_fields`` may change how its fields take input (``read_only``, ``max_length``), never which
    fields are shown or how: the shown ones are the class's (test_serializers checks every serializer of ours).

    The fields a serializer takes input with (a create, an update) are built from the model once per class too, and
    each serializer gets its own copy (``_copy_field``), as DRF copies its declared fields: building them
    (``ModelSerializer.get_fields``: the model's fields, their validators and kwargs) was a tenth of a submission's
    create, and copying them as DRF does (anew from their arguments) a fifth.
    """

    def get_fields(self):
        """DRF's fields of this class, built once from the model and copied (a subclass's ``get_fields`` changes its
        copy)."""
        built = type(self).__dict__.get("_class_fields")
        if built is None:
            # From an instance without data, instance or context: ModelSerializer's fields depend on the class only.
            built = super(FastRepresentationMixin, type(self)()).get_fields()
            type(self)._class_fields = built
        return {name: _copy_field(field) for name, field in built.items()}

    def get_validators(self):
        """DRF's serializer-wide validators; none, without reading the model's field info each time, for a model that
        has no uniqueness DRF checks (unique together, a unique constraint, unique for a date): DRF's answer for it
        was 2% of a render's Python time (py-spy in the harness)."""
        if getattr(getattr(self, "Meta", None), "validators", None) is None and not _has_uniqueness_rules(
            self.Meta.model
        ):
            return []
        return super().get_validators()

    _plain_types = (
        serializers.CharField,
        serializers.IntegerField,
        serializers.BooleanField,
        serializers.JSONField,
        serializers.ChoiceField,
        serializers.ListField,
    )

    def _representation_plan(self):
        plan = type(self).__dict__.get("_class_plan") or getattr(self, "_plan", None)
        if plan is None:
            plan = self._plan_from_fields()
            if any(kind == "drf" for _name, kind, _how in plan):
                self._plan = plan  # a field DRF must show may depend on this instance or its context
            else:
                # Per class (a class attribute of its own, not inherited), made from an instance without data or
                # context, so that the nested serializers it keeps hold no request.
                plan = type(self)()._plan_from_fields()
                type(self)._class_plan = plan
        return plan

    @property
    def shows_by_class_plan(self) -> bool:
        """Whether this serializer shows rows by its class's plan alone, nested ones included (no field of DRF's,
        which could read this instance's context)."""
        return not any(kind == "drf" for _name, kind, _how in self._representation_plan())

    def _plan_from_fields(self):
        plan = []
        for field in self._readable_fields:
            source = field.source_attrs
            simple = len(source) == 1 and not getattr(field, "method_name", None)
            if simple and isinstance(field, serializers.DateTimeField):
                plan.append((field.field_name, "datetime", source[0]))
            elif simple and isinstance(field, serializers.ListSerializer) and _fast(field.child):
                plan.append((field.field_name, "many", (source[0], field.child)))
            elif simple and isinstance(field, serializers.BaseSerializer) and _fast(field):
                plan.append((field.field_name, "nested", (source[0], field)))
            elif simple and _shows_as_stored(field):
                plan.append((field.field_name, "plain", source[0]))
            else:
                plan.append((field.field_name, "drf", field))
        return plan

    def to_representation(self, instance):
        data = {}
        for name, kind, how in self._representation_plan():
            if kind == "plain":
                data[name] = getattr(instance, how)
            elif kind == "datetime":
                value = getattr(instance, how)
                data[name] = None if value is None else _iso(value)
            elif kind == "nested":
                attribute, serializer = how
                value = getattr(instance, attribute)
                data[name] = None if value is None else serializer.to_representation(value)
            elif kind == "many":  # as DRF's ListSerializer: a related manager's rows (prefetched ones when there)
                attribute, child = how
                rows = getattr(instance, attribute)
                rows = rows.all() if isinstance(rows, BaseManager) else rows
                data[name] = [child.to_representation(row) for row in rows]
            else:
                attribute = how.get_attribute(instance)
                data[name] = None if attribute is None else how.to_representation(attribute)
        return data

    def value_columns(self, prefix: str = "") -> list[str] | None:
        """The columns ``represent_values`` needs from ``QuerySet.values()`` (a list read without building model
        instances), or None when a field needs the instance: a method, a property, a many-related or custom field.
        A nested row's own key is among them, telling a missing row (null) from a present one."""
        model = self.Meta.model
        columns = []
        for _name, kind, how in self._representation_plan():
            if kind == "nested":
                attribute, serializer = how
                nested = serializer.value_columns(f"{prefix}{attribute}__")
                if nested is None or not _is_column(model, attribute):
                    return None
                columns += [f"{prefix}{attribute}", *nested]
            elif kind in ("plain", "datetime") and _is_column(model, how):
                columns.append(prefix + how)
            else:
                return None
        return columns

    def represent_values(self, row: dict, prefix: str = "") -> dict:
        """What ``to_representation`` answers for the same row, from the dict ``values(*value_columns())`` gives."""
        data = {}
        for name, kind, how in self._representation_plan():
            if kind == "plain":
                data[name] = row[prefix + how]
            elif kind == "datetime":
                value = row[prefix + how]
                data[name] = None if value is None else _iso(value)
            else:
                attribute, serializer = how
                key = prefix + attribute
                data[name] = None if row[key] is None else serializer.represent_values(row, key + "__")
        return data

    def row_json(self):
        """On PostgreSQL (``jobbergate.database.writes_json``), an expression giving the JSON text of what
        ``represent_values`` answers for the same row, written by the database from this serializer's plan; None when
        a field needs Python to be shown (a method, a custom field, a column whose JSON is not what DRF shows)."""
        cls = type(self)
        if "_class_row_json" not in cls.__dict__:  # made once per class, as its plan (the annotation copies it)
            found = self._json_object("")
            cls._class_row_json = None if found is None else as_text(found)
        return cls._class_row_json

    def _json_object(self, prefix: str):
        model = self.Meta.model
        fields = {field.field_name: field for field in type(self)()._readable_fields}
        pairs = []
        for name, kind, how in self._representation_plan():
            if kind == "nested":
                attribute, serializer = how
                nested = serializer._json_object(f"{prefix}{attribute}__") if _is_column(model, attribute) else None
                if nested is None:
                    return None
                pairs.append((name, null_unless(prefix + attribute, nested)))
            elif kind == "datetime" and _is_column(model, how):
                pairs.append((name, WireTimestamp(F(prefix + how))))
            elif kind == "plain" and _is_column(model, how) and _json_as_stored(fields[name], model, how):
                pairs.append((name, F(prefix + how)))
            else:
                return None
        return JSONRow(pairs) if all(JSONRow.takes_name(name) for name, _ in pairs) else None


# What a serializer instance keeps once used: its fields made, its input, its results.
_USED_STATE = frozenset({"fields", "initial_data", "_validated_data", "_errors", "_data"})


def _copy_field(field):
    """A copy of an unbound field for one serializer instance: what binding or a subclass's ``get_fields`` sets on it
    (``field_name``, ``parent``, ``read_only``...) lands on the copy alone.

    DRF copies a field with ``copy.deepcopy``, which builds it anew from its arguments (its validators, choices and
    messages): that was a fifth of a submission's create (bench/run-profile). A field holds nothing a request
    changes beyond what ``bind`` sets, so a shallow copy with its own validator list and its own copy of a child
    field (a list's items) is the same field. A nested ``PlainSerializer`` not yet used (no fields made, no input)
    is copied the same way, since it makes its fields from its class's declared ones when first asked (DRF's copy
    built it anew: a sixth of validating a render's body); any other nested serializer, which keeps bound fields of
    its own, is still copied as DRF does."""
    if isinstance(field, PlainSerializer) and field.parent is None and not field.__dict__.keys() & _USED_STATE:
        new = _shallow_copy(field)
        new._validators = list(field.validators)
        return new
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    new = _shallow_copy(field)
    if "_validators" in new.__dict__:
        new._validators = list(new._validators)
    for name in ("child", "child_relation"):  # a list's items, a many-related field's one relation
        inner = getattr(field, name, None)
        if inner is not None:
            inner = _copy_field(inner)
            inner.parent = new  # bound already (by the field that holds it): only its parent is another
            setattr(new, name, inner)
    return new


@functools.cache
def _has_uniqueness_rules(model) -> bool:
    """Whether DRF's ModelSerializer may make a validator from ``model`` (or a parent): its ``unique_together``, a
    ``UniqueConstraint``, a field's ``unique_for_date``/``_month``/``_year``."""
    for cls in [model, *model._meta.parents]:
        options = cls._meta
        if options.unique_together or any(isinstance(c, models.UniqueConstraint) for c in options.constraints):
            return True
        if any(f.unique_for_date or f.unique_for_month or f.unique_for_year for f in options.fields):
            return True
    return False


def _shallow_copy(field):
    """``copy.copy(field)``, made directly for a class that copies as a plain object (no copy rule of its own: no
    ``__copy__``, ``__reduce__``, ``__getstate__``, ``__getnewargs__``, ``__slots__`` or ``copyreg`` entry, as DRF's
    fields): ``copy.copy`` reaches the same object through ``__reduce_ex__`` at 5.2 us a field against 0.75 (a
    submission's body has 18 fields). DRF's ``Field.__new__``, which ``copy.copy`` calls and this does not, only
    records the arguments, which the copied attributes carry anyway."""
    if not _copies_as_plain_object(type(field)):
        return copy.copy(field)
    new = object.__new__(type(field))
    new.__dict__.update(field.__dict__)
    return new


@functools.cache
def _copies_as_plain_object(cls) -> bool:
    special = (
        "__copy__",
        "__reduce_ex__",
        "__reduce__",
        "__getstate__",
        "__setstate__",
        "__getnewargs__",
        "__getnewargs_ex__",
        "__slots__",
    )
    if any(klass in copyreg.dispatch_table for klass in cls.__mro__):
        return False
    return not any(name in klass.__dict__ for klass in cls.__mro__ if klass is not object for name in special)


def _fast(serializer) -> bool:
    """Whether a nested serializer shows its rows by its class's plan (no DRF field in it, however deep): only then
    may the plan of the serializer around it be kept on that class."""
    return (
        isinstance(serializer, FastRepresentationMixin)
        and not getattr(serializer, "many", False)
        and serializer.shows_by_class_plan
    )


def _shows_as_stored(field) -> bool:
    """Whether DRF's representation of ``field`` is the stored value itself (for the values our columns hold)."""
    if isinstance(field, serializers.BigIntegerField):  # a string only when asked to (COERCE_BIGINT_TO_STRING)
        return not getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)
    return isinstance(field, FastRepresentationMixin._plain_types) and type(field).to_representation in _PLAIN


# A field shown as stored (``_shows_as_stored``), and the columns PostgreSQL's JSON writes as that field shows them.
_JSON_AS_STORED = (
    (serializers.BooleanField, frozenset({"BooleanField"})),
    (serializers.IntegerField, INTEGER_COLUMNS),
    (serializers.JSONField, frozenset({"JSONField"})),
    (serializers.ListField, frozenset({"JSONField"})),  # a list kept as a JSON document
    (serializers.ChoiceField, TEXT_COLUMNS | INTEGER_COLUMNS),
    (serializers.CharField, TEXT_COLUMNS),
)


def _json_as_stored(field, model, name: str) -> bool:
    """Whether PostgreSQL's JSON of column ``name`` is what ``field`` shows for it: a string for text, a number for
    an integer, the document itself for a JSON column read without a decoder of its own."""
    column = model._meta.get_field(name)
    if isinstance(column, models.ForeignKey):
        column = column.target_field
    kind = column.get_internal_type()
    if kind == "JSONField" and column.decoder is not None:
        return False
    for field_class, kinds in _JSON_AS_STORED:
        if isinstance(field, field_class):
            return kind in kinds
    return False


def _is_column(model, name: str) -> bool:
    """Whether ``name`` is a column of ``model`` (a field or a foreign key's ``_id``), which ``values()`` can read."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete and not field.many_to_many


def _iso(value: datetime) -> str:
    """DRF's default datetime output: ISO 8601 in UTC, ``+00:00`` written as ``Z``. The same rule in SQL, for the
    rows PostgreSQL writes as JSON, is ``jobbergate.database.WireTimestamp`` (test_database compares the two)."""
    if value.tzinfo is UTC:  # as the database gives them: no conversion to make (a quarter of this function's time)
        return value.isoformat()[:-6] + "Z"
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# Fields whose DRF to_representation returns the stored value unchanged for the values our columns hold.
_PLAIN = {
    serializers.CharField.to_representation,
    serializers.IntegerField.to_representation,
    serializers.BooleanField.to_representation,
    serializers.JSONField.to_representation,
    serializers.ChoiceField.to_representation,
    serializers.ListField.to_representation,
}


def visible_text(what: str):
    """A field validator: text shown to other people holds no control, bidi or invisible characters."""

    def validate(value):
        if value and (problem := display_text_problem(value, what=what)):
            raise serializers.ValidationError(problem)

    return validate


def sbatch_header_lines(values):
    """A field validator for render's ``sbatch_params``, which become ``#SBATCH`` lines of the script."""
    for value in values or []:
        if problem := sbatch_line_problem(value):
            raise serializers.ValidationError(problem)


def sbatch_command_line(values):
    """A field validator for a submission's ``sbatch_arguments``, which go on sbatch's command line."""
    for value in values or []:
        if problem := sbatch_argument_problem(value):
            raise serializers.ValidationError(problem)


def name_field(**options) -> serializers.CharField:
    """A resource's name as a request gives it: a string of at most 255 characters, not blank, required; ``options``
    add to these or change them (a clone's name is optional). The one home of this rule."""
    return serializers.CharField(**{"max_length": 255, "validators": [visible_text("A name")], **options})


def description_field(**options) -> serializers.CharField:
    """A resource's description as a request gives it: a string of at most 255 characters, optional, may be empty
    (``options`` as for ``name_field``)."""
    rule = {"max_length": 255, "required": False, "allow_blank": True, "allow_null": True}
    return serializers.CharField(**{**rule, "validators": [visible_text("A description")], **options})


class NameAndDescription(serializers.Serializer):
    """The name and description of a resource as a request gives them (``name_field``, ``description_field``); null
    means not given. For the resource serializers (``ResourceSerializer``), for request bodies that name a resource
    to make (``PlainSerializer`` ones, such as render's ``create_request``) and for a clone's overrides."""

    name = name_field()
    description = description_field(default="")

    def validate_description(self, value):
        return value or ""

    def to_internal_value(self, data):
        return super().to_internal_value(drop_nulls(data))


class ResourceSerializer(FastRepresentationMixin, NameAndDescription, serializers.ModelSerializer):
    """Name and description are strings of at most 255 characters; the rest is set by the server."""

    cloned_from_id = serializers.IntegerField(read_only=True, allow_null=True)


def drop_nulls(data):
    """Upstream clients send ``null`` for every optional field they leave unset; null means "not given" here."""
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if value is not None}
    return data


# A serializer of declared fields only (a request body, an agent's report): each instance gets its fields by
# ``_copy_field`` rather than by DRF's deep copy, which builds every field anew from its arguments (a third of
# validating a render's body: 181 against 118 us). No docstring: drf-spectacular would show it as the description
# of every subclass without one of its own.
class PlainSerializer(serializers.Serializer):
    def get_fields(self):
        return {name: _copy_field(field) for name, field in self._declared_fields.items()}


class CloneSerializer(NameAndDescription, PlainSerializer):
    """Optional overrides when cloning a row: what is not given is the source's."""

    name = name_field(required=False)
    description = description_field()


class FileSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    parent_id = serializers.IntegerField(read_only=True)
