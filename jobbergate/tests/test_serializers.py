"""The fast representation path gives exactly DRF's output for every serializer that uses it."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from applications.serializers import JobScriptTemplateListSerializer, JobScriptTemplateSerializer
from jobscripts.serializers import JobScriptListSerializer, JobScriptSerializer
from submissions.serializers import JobSubmissionSerializer
from testkit.factories import make_job_script, make_submission, make_template


def drf_representation(serializer_class, instance):
    """What plain DRF would produce, nested serializers included."""
    serializer = serializer_class(instance)
    output = {}
    for field in serializer._readable_fields:
        attribute = field.get_attribute(instance)
        if attribute is None:
            output[field.field_name] = None
        elif isinstance(field, serializers.ListSerializer):
            output[field.field_name] = [drf_representation(type(field.child), item) for item in attribute.all()]
        elif isinstance(field, serializers.BaseSerializer):
            output[field.field_name] = drf_representation(type(field), attribute)
        else:
            output[field.field_name] = field.to_representation(attribute)
    return output


@pytest.mark.django_db
@pytest.mark.parametrize(
    "serializer_class, factory",
    [
        (JobScriptTemplateListSerializer, lambda: make_template("a@example.com")),
        (JobScriptTemplateSerializer, lambda: make_template("a@example.com")),
        (JobScriptListSerializer, lambda: make_job_script("a@example.com", template=make_template("a@example.com"))),
        (JobScriptSerializer, lambda: make_job_script("a@example.com")),
        (JobSubmissionSerializer, lambda: make_submission("a@example.com", sbatch_arguments=["--time=1"])),
    ],
)
def test_fast_output_equals_drf_output(serializer_class, factory):
    instance = factory()
    assert serializer_class(instance).data == drf_representation(serializer_class, instance)
