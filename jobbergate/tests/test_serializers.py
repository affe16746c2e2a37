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


def submission_without_job_script():
    row = make_submission("a@example.com", slurm_job_id=7, slurm_job_info='{"exit_code": 0}')
    row.job_script.delete()  # the submission stays, its job_script null
    row.refresh_from_db()
    return row


@pytest.mark.django_db
@pytest.mark.parametrize(
    "serializer_class, factory",
    [
        (JobScriptTemplateListSerializer, lambda: make_template("a@example.com")),
        (JobScriptListSerializer, lambda: make_job_script("a@example.com", template=make_template("a@example.com"))),
        (JobScriptListSerializer, lambda: make_job_script("a@example.com")),  # no application: template null
        (JobSubmissionSerializer, lambda: make_submission("a@example.com", sbatch_arguments=["--time=1"])),
        (JobSubmissionSerializer, submission_without_job_script),
    ],
)
def test_a_list_read_as_values_shows_what_the_rows_show(serializer_class, factory):
    instance = factory()
    instance = type(instance).objects.get(pk=instance.pk)  # as stored (adding files touched updated_at)
    serializer = serializer_class()
    columns = serializer.value_columns()
    assert columns is not None  # every list answer of ours is plain columns: the fast path is taken
    row = type(instance).objects.filter(pk=instance.pk).values(*columns).get()
    assert serializer.represent_values(row) == drf_representation(serializer_class, instance)


def test_a_field_that_needs_the_instance_keeps_the_list_on_instances():
    class WithMethod(JobScriptTemplateListSerializer):
        shout = serializers.SerializerMethodField()

        class Meta(JobScriptTemplateListSerializer.Meta):
            fields = (*JobScriptTemplateListSerializer.Meta.fields, "shout")

        def get_shout(self, row):
            return row.name.upper()

    assert WithMethod().value_columns() is None


def every_fast_serializer():
    """Every serializer class of ours that shows rows by a plan (the mixin's subclasses, however deep)."""
    import applications.serializers  # noqa: F401  (imported: their classes are the subclasses looked for)
    import jobscripts.serializers  # noqa: F401
    import submissions.serializers  # noqa: F401
    from jobbergate.api.serializers import FastRepresentationMixin

    found, todo = [], list(FastRepresentationMixin.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if getattr(getattr(cls, "Meta", None), "model", None) is not None:
            found.append(cls)
    return sorted(set(found), key=lambda cls: cls.__qualname__)


def plan_shape(plan):
    """A plan without the field objects: what it shows, and how."""
    return [
        (name, kind, how if isinstance(how, str) else type(how[1] if isinstance(how, tuple) else how).__name__)
        for name, kind, how in plan
    ]


@pytest.mark.django_db
def test_the_plan_made_once_per_class_is_what_each_instance_would_show():
    """The plan is made from the first instance's fields and kept on the class: no serializer of ours may show other
    fields, or show them otherwise, with an instance, with data or with a context (a ``get_fields`` that depends on
    them may only change input rules)."""
    classes = every_fast_serializer()
    assert len(classes) >= 8
    make_submission("a@example.com", sbatch_arguments=["--time=1"])
    make_job_script("a@example.com", template=make_template("a@example.com"))
    for cls in classes:
        row = cls.Meta.model.objects.first()
        for serializer in (cls(), cls(row), cls(data={}), cls(row, data={}, partial=True), cls(context={"x": 1})):
            assert plan_shape(serializer._plan_from_fields()) == plan_shape(cls()._representation_plan()), cls


def test_a_nested_field_that_may_read_the_context_keeps_the_plan_per_instance():
    """A class plan keeps its nested serializers for the life of the process: one whose fields DRF must show (they
    may read the request) makes the serializer around it keep its plan per instance, never on the class."""

    class Shouting(JobScriptTemplateListSerializer):
        shout = serializers.SerializerMethodField()

        class Meta(JobScriptTemplateListSerializer.Meta):
            fields = (*JobScriptTemplateListSerializer.Meta.fields, "shout")

        def get_shout(self, row):
            return self.context["request"].user.username

    class Around(JobScriptListSerializer):
        template = Shouting(source="parent_template", read_only=True, allow_null=True)

        class Meta(JobScriptListSerializer.Meta):
            pass

    plan = Around(context={"request": object()})._representation_plan()
    assert dict((name, kind) for name, kind, _how in plan)["template"] == "drf"
    assert "_class_plan" not in Around.__dict__
    JobScriptListSerializer()._representation_plan()
    assert "_class_plan" in JobScriptListSerializer.__dict__  # the plain one keeps it on the class


@pytest.mark.django_db
def test_the_input_fields_built_once_per_class_are_the_fields_drf_builds(monkeypatch):
    from jobbergate.api.serializers import FastRepresentationMixin

    submission = make_submission("a@example.com")
    cases = [(cls, None) for cls in every_fast_serializer()] + [(JobSubmissionSerializer, submission)]
    copied = [repr(cls(instance).get_fields()) for cls, instance in cases for _ in range(2)]
    monkeypatch.setattr(
        FastRepresentationMixin, "get_fields", lambda self: super(FastRepresentationMixin, self).get_fields()
    )
    built = [repr(cls(instance).get_fields()) for cls, instance in cases for _ in range(2)]
    assert copied == built


@pytest.mark.django_db
def test_each_serializer_changes_only_its_own_copy_of_the_fields():
    first, second = JobSubmissionSerializer().get_fields(), JobSubmissionSerializer().get_fields()
    assert not any(first[name] is second[name] for name in first)
    # What a field holds that binding or validation reaches: the items' field, bound to its own list; the validators.
    items, other_items = first["sbatch_arguments"].child, second["sbatch_arguments"].child
    assert items is not other_items and items.parent is first["sbatch_arguments"]
    assert first["name"].validators is not second["name"].validators
    updating = JobSubmissionSerializer(make_submission("a@example.com")).get_fields()
    assert updating["client_id"].read_only  # a submission's cluster cannot change after creation
    assert not JobSubmissionSerializer().get_fields()["client_id"].read_only


@pytest.mark.django_db
def test_the_serializer_wide_validators_are_drf_s(monkeypatch):
    """The shortcut for models without uniqueness rules answers as DRF; a model with one still gets DRF's."""
    from django.contrib.auth.models import Group
    from rest_framework.validators import UniqueTogetherValidator

    from jobbergate.api.serializers import FastRepresentationMixin

    class WithUniqueTogether(FastRepresentationMixin, serializers.ModelSerializer):
        class Meta:
            model = Group.permissions.through  # unique together: (group, permission)
            fields = ("group", "permission")

    classes = [*every_fast_serializer(), WithUniqueTogether]
    ours = [repr(cls(data={}).get_validators()) for cls in classes]
    assert any(isinstance(v, UniqueTogetherValidator) for v in WithUniqueTogether(data={}).get_validators())
    monkeypatch.setattr(
        FastRepresentationMixin, "get_validators", lambda self: super(FastRepresentationMixin, self).get_validators()
    )
    assert ours == [repr(cls(data={}).get_validators()) for cls in classes]


def test_a_field_s_shallow_copy_is_copy_copy():
    import copy

    from jobbergate.api.serializers import _shallow_copy
    from jobscripts.serializers import RenderRequestSerializer
    from submissions.serializers import JobSubmissionSerializer

    class Copying(serializers.CharField):
        def __copy__(self):
            return "copied by its own rule"

    fields = [
        *JobSubmissionSerializer().get_fields().values(),
        *RenderRequestSerializer().get_fields().values(),
        serializers.CharField(max_length=3),
    ]
    for field in fields:
        made, expected = _shallow_copy(field), copy.copy(field)
        assert type(made) is type(expected) and made.__dict__ == expected.__dict__ and made is not field
    assert _shallow_copy(Copying()) == "copied by its own rule"


def test_a_nested_body_s_copy_keeps_nothing_of_another_request():
    """Render's body nests two PlainSerializers, copied shallowly (``_copy_field``): each body gets its own nested
    serializers and fields, the declared ones stay unused, and one body's input or errors never reach another."""
    from jobscripts.serializers import RenderFromTemplateSerializer

    def body(name, mapping):
        return {
            "create_request": {"name": name, "description": None},
            "render_request": {"template_output_name_mapping": mapping, "sbatch_params": ["--time=5"]},
        }

    good = RenderFromTemplateSerializer(data=body("first", {"a.j2": "a.sh"}))
    bad = RenderFromTemplateSerializer(data=body("", {}))
    other = RenderFromTemplateSerializer(data=body("second", {"b.j2": "b.sh"}))
    assert good.is_valid() and other.is_valid() and not bad.is_valid()
    assert set(bad.errors) == {"create_request", "render_request"}
    assert good.validated_data["create_request"] == {"name": "first", "description": ""}
    assert other.validated_data["render_request"]["template_output_name_mapping"] == {"b.j2": "b.sh"}
    nested = [serializer.fields["create_request"] for serializer in (good, bad, other)]
    assert len({id(field) for field in nested}) == 3 and all(field.parent is not None for field in nested)
    assert nested[0].fields["name"] is not nested[2].fields["name"]
    assert nested[0].validators is not nested[2].validators
    for declared in RenderFromTemplateSerializer._declared_fields.values():
        assert declared.parent is None and "fields" not in declared.__dict__ and "_errors" not in declared.__dict__
