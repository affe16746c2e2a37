"""A list's rows written as JSON by PostgreSQL (``FastRepresentationMixin.row_json``, jobbergate/database.py) are the
rows the serializers show: compared value by value with ``represent_values`` and with DRF's own representation, for
rows holding what a user may put in them (quotes, control characters, non-Latin text, JSON with integers past 64
bits, no application, timestamps with and without microseconds)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework import serializers

from applications.serializers import JobScriptTemplateListSerializer
from applications.views import JobScriptTemplateViewSet
from jobbergate.api.renderers import FastJSONRenderer, WrittenJSON
from jobbergate.api.serializers import ResourceSerializer
from jobbergate.api.viewsets import _PageShape
from jobscripts.models import JobScript
from jobscripts.views import JobScriptViewSet
from submissions.models import JobSubmission
from submissions.views import JobSubmissionViewSet
from testkit.factories import make_job_script, make_submission, make_template

pytestmark = pytest.mark.django_db

VIEWS = [JobScriptTemplateViewSet, JobScriptViewSet, JobSubmissionViewSet]
AWKWARD = 'quote " backslash \\ tab \t newline \n bell \x07 unicode é 漢字 \U0001f600 \u2028 end'


def _rows(owner: str) -> None:
    """Rows of every resource, most of them awkward."""
    template = make_template(owner, name=AWKWARD, files=False)
    template.template_vars = {
        "big": 2**80,
        "neg": -(2**70),
        "float": 0.1,
        "small": 1e-07,
        "large": 1e16,
        "nested": {"list": [1, "two", None, True], "empty": {}},
    }
    template.description = AWKWARD
    template.save()
    plain = make_job_script(owner, template=template, files=False)
    orphan = make_job_script(owner, name="no application", files=False)
    JobScript.objects.filter(pk=orphan.pk).update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    JobScript.objects.filter(pk=plain.pk).update(updated_at=datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC))
    make_submission(owner, job_script=plain, sbatch_arguments=["--time=5", AWKWARD], slurm_job_id=2**31 - 1)
    submission = make_submission(owner, job_script=orphan, execution_directory=AWKWARD)
    JobSubmission.objects.filter(pk=submission.pk).update(is_archived=True)


def _wire(data) -> object:
    """The answer's JSON for ``data``, as a client reads it."""
    return json.loads(FastJSONRenderer().render(data))


@pytest.mark.postgres_only
@pytest.mark.parametrize("view_class", VIEWS, ids=lambda view: view.__name__)
def test_every_list_row_postgresql_writes_is_the_row_the_serializer_shows(view_class, alice):
    _rows(alice.email)
    serializer_class = view_class.list_serializer_class or view_class.serializer_class
    shape = _PageShape.of(serializer_class, view_class.model)
    assert shape is not None and shape.in_json  # the lists of every resource are written by PostgreSQL
    queryset = view_class.model.objects.order_by("pk")
    written = shape.show(list(shape.read(queryset)))
    values = _PageShape(serializer_class, in_json=False)
    shown = values.show(list(values.read(queryset)))
    drf = [serializer_class(row).data for row in queryset.select_related(*view_class.select_related)]
    assert written and all(type(item) is WrittenJSON for item in written)
    assert _wire(written) == _wire(shown) == _wire(drf)


@pytest.mark.postgres_only
def test_a_page_with_an_integer_past_64_bits_is_answered_through_the_fallback_encoder(alice):
    """orjson refuses integers past 64 bits; the fallback encoder reads the written rows as the values they are."""
    _rows(alice.email)
    shape = _PageShape.of(JobScriptTemplateListSerializer, JobScriptTemplateViewSet.model)
    written = shape.show(list(shape.read(JobScriptTemplateViewSet.model.objects.order_by("pk"))))
    page = {"items": written, "extra": 2**70}  # outside the written text: orjson refuses the whole answer
    assert _wire(page)["items"][0]["template_vars"]["big"] == 2**80
    assert _wire(page)["extra"] == 2**70


class _WithMethod(ResourceSerializer):
    shout = serializers.SerializerMethodField()

    class Meta:
        model = JobScript
        fields = ("id", "shout")

    def get_shout(self, row) -> str:
        return row.name.upper()


class _TextAsNumber(ResourceSerializer):
    name = serializers.IntegerField()  # a text column shown by a field whose JSON is a number

    class Meta:
        model = JobScript
        fields = ("id", "name")


class _LongName(ResourceSerializer):
    a_name_longer_than_the_sixty_three_bytes_postgresql_keeps_of_an_identifier = serializers.CharField(source="name")

    class Meta:
        model = JobScript
        fields = ("id", "a_name_longer_than_the_sixty_three_bytes_postgresql_keeps_of_an_identifier")


@pytest.mark.parametrize("serializer_class", [_WithMethod, _TextAsNumber, _LongName])
def test_a_row_the_database_cannot_write_as_the_serializer_shows_it_is_left_to_python(serializer_class):
    assert serializer_class().row_json() is None
    shape = _PageShape.of(serializer_class, JobScript)
    assert shape is None or not shape.in_json


def test_on_sqlite_the_rows_are_shown_by_python():
    shape = _PageShape.of(JobScriptTemplateListSerializer, JobScriptTemplateViewSet.model)
    assert shape is not None and shape.in_json == (connection.vendor == "postgresql")
