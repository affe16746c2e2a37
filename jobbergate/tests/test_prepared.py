"""Prepared queries (jobbergate/prepared.py) give what the ORM gives for the same values, and refuse to prepare a
query whose SQL or parameters hold anything but the declared values and constants."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models
from django.db.models import prefetch_related_objects
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from applications.models import JobScriptTemplate
from jobbergate.choices import Permission
from jobbergate.models import visible_row
from jobbergate.prepared import PreparedQuery, PreparedValueError, hold_new_children, prefetch_children
from jobbergate.principal import Principal
from jobscripts.models import JobScript
from submissions.models import JobSubmission
from testkit.factories import make_job_script, make_submission, make_template

pytestmark = pytest.mark.django_db

User = get_user_model()
USERNAME = User._meta.get_field("username")
JTI = ApiToken._meta.get_field("jti")
EXPIRES_AT = ApiToken._meta.get_field("expires_at")

by_username = PreparedQuery(lambda username: User.objects.filter(username=username), username=USERNAME)
usable_token = PreparedQuery(
    lambda jti, now: ApiToken.objects.usable(now).select_related("user").filter(jti=jti), jti=JTI, now=EXPIRES_AT
)


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def same(prepared, orm) -> None:
    assert [type(row) for row in prepared] == [type(row) for row in orm]
    assert [fields_of(row) for row in prepared] == [fields_of(row) for row in orm]


@pytest.fixture
def tokens():
    alice = User.objects.create(username="alice", email="alice@example.com")
    now = timezone.now()
    return {
        "live": ApiToken.objects.create(user=alice, expires_at=now + timedelta(hours=1), name="live"),
        "expired": ApiToken.objects.create(user=alice, expires_at=now - timedelta(seconds=1)),
        "revoked": ApiToken.objects.create(user=alice, expires_at=now + timedelta(hours=1), revoked_at=now),
    }


def test_it_gives_the_orm_s_rows_and_their_select_related_rows(tokens):
    now = timezone.now()
    for row in [*tokens.values(), ApiToken(jti="nobody's")]:
        prepared = usable_token.all(jti=row.jti, now=now)
        orm = list(ApiToken.objects.usable(now).select_related("user").filter(jti=row.jti))
        same(prepared, orm)
        same([p.user for p in prepared], [o.user for o in orm])
    assert [row.name for row in usable_token.all(jti=tokens["live"].jti, now=now)] == ["live"]
    # The same token later, when it has expired: the value is the request's, never the first call's.
    assert usable_token.all(jti=tokens["live"].jti, now=now + timedelta(hours=2)) == []
    assert usable_token.first(jti=tokens["live"].jti, now=now).user.username == "alice"


def test_each_call_is_one_query_with_the_values_as_parameters(tokens):
    usable_token.first(jti=tokens["live"].jti, now=timezone.now())  # prepared here, if not before
    with CaptureQueriesContext(connection) as queries:
        assert usable_token.first(jti="'; DROP TABLE accounts_apitoken; --", now=timezone.now()) is None
    assert len(queries.captured_queries) == 1
    assert ApiToken.objects.count() == 3


def test_deferred_columns_and_datetimes_read_as_the_orm_reads_them(tokens):
    only_names = PreparedQuery(lambda jti: ApiToken.objects.filter(jti=jti).only("name", "created_at"), jti=JTI)
    prepared = only_names.first(jti=tokens["live"].jti)
    orm = ApiToken.objects.filter(jti=tokens["live"].jti).only("name", "created_at").first()
    assert prepared.get_deferred_fields() == orm.get_deferred_fields()
    assert (prepared.pk, prepared.name, prepared.created_at) == (orm.pk, orm.name, orm.created_at)
    assert prepared.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "build",
    [
        # A value the builder computes itself would be frozen at the first call: refused.
        lambda jti: ApiToken.objects.filter(jti=jti, expires_at__gt=timezone.now()),
        # A lookup that rewrites the value (into '%value%'): not the declared value as given.
        lambda jti: ApiToken.objects.filter(jti__icontains=jti),
        # A value that changes the SQL text.
        lambda jti: ApiToken.objects.filter(**{"name" if jti.endswith("0") else "jti": jti}),
        # Values derived from the declared one would be frozen too.
        lambda jti: ApiToken.objects.filter(jti=jti[:10]),
        lambda jti: ApiToken.objects.filter(jti=jti, name=len(jti)),
        lambda jti: ApiToken.objects.filter(jti=jti.upper()),
        # A declared value that never reaches the SQL, unless declared optional.
        lambda jti: ApiToken.objects.all(),
        lambda jti: ApiToken.objects.filter(jti=jti).prefetch_related("user__api_tokens"),
        lambda jti: ApiToken.objects.filter(jti=jti).values_list("name"),
        lambda jti: ApiToken.objects.filter(jti=jti).order_by("id")[:5],  # a slice is page()'s
        lambda jti: ApiToken.objects.filter(jti=jti).select_for_update(),
        lambda jti: ApiToken.objects.filter(jti=jti).extra(select={"one": "1"}),
    ],
)
def test_a_query_it_cannot_run_as_the_orm_would_is_refused(build):
    with pytest.raises(ImproperlyConfigured):
        PreparedQuery(build, jti=JTI).all(jti="x")


def test_a_values_query_gives_the_orm_s_dicts_and_a_page_its_slice():
    template = make_template("alice@example.com")
    for n in range(7):
        make_job_script("alice@example.com", files=False, name=f"a{n}", template=template if n % 2 else None)
    make_job_script("bob@example.com", files=False)
    columns = ("id", "name", "created_at", "is_archived", "parent_template_id", "parent_template__name")
    owner = JobScript._meta.get_field("owner_email")
    rows = PreparedQuery(
        lambda email: JobScript.objects.filter(owner_email=email).order_by("-id").values(*columns), email=owner
    )
    orm = JobScript.objects.filter(owner_email="alice@example.com").order_by("-id").values(*columns)
    assert rows.all(email="alice@example.com") == list(orm)
    assert rows.all(email="alice@example.com")[1]["created_at"].tzinfo is not None
    for offset, limit in ((0, 3), (3, 3), (6, 3), (7, 3), (100, 1)):
        with CaptureQueriesContext(connection) as queries:
            assert rows.page(offset, limit, email="alice@example.com") == list(orm[offset : offset + limit])
        assert len(queries.captured_queries) == 1
    assert rows.page(0, 50, email="bob@example.com")[0]["parent_template__name"] is None
    for offset, limit in ((-1, 3), (0, 0), ("1", 3), (0, 2.5)):
        with pytest.raises(TypeError):
            rows.page(offset, limit, email="alice@example.com")


def test_derived_datetimes_are_refused_and_optional_values_may_stay_out():
    with pytest.raises(ImproperlyConfigured):
        PreparedQuery(lambda now: ApiToken.objects.filter(created_at__date=now.date()), now=EXPIRES_AT).all(
            now=timezone.now()
        )
    everyone = PreparedQuery(lambda jti, name: ApiToken.objects.filter(jti=jti), optional={"name"}, jti=JTI, name=JTI)
    assert everyone.all(jti="x", name="y") == []


def test_a_value_of_a_type_without_stand_ins_is_refused():
    with pytest.raises(ImproperlyConfigured):
        PreparedQuery(lambda flag: ApiToken.objects.filter(name=flag), flag=models.BooleanField()).all(flag=True)


def test_bad_values_are_refused_before_the_database():
    by_id = PreparedQuery(lambda pk: JobScript.objects.filter(pk=pk), pk=JobScript._meta.pk)
    with CaptureQueriesContext(connection) as queries:
        for bad in ("abc", "1.5", [1], None, 10**30, -(10**30)):  # None: the ORM would ask IS NULL, another query
            with pytest.raises(PreparedValueError):
                by_id.all(pk=bad)
        with pytest.raises(TypeError):
            by_id.all(pk=1, other=2)
    assert queries.captured_queries == []


def test_a_query_that_matches_nothing_asks_nothing():
    nothing = PreparedQuery(lambda pk: JobScript.objects.none().filter(pk=pk), pk=JobScript._meta.pk)
    with CaptureQueriesContext(connection) as queries:
        assert nothing.all(pk=1) == []
    assert queries.captured_queries == []


@pytest.mark.django_db(transaction=True)  # the other thread's connection must see the committed rows
def test_each_thread_prepares_on_its_own_connection(tokens):
    found = []

    def read():
        try:
            found.append(by_username.first(username="alice").email)
        finally:
            connection.close()

    assert by_username.first(username="alice").email == "alice@example.com"
    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert found == ["alice@example.com"]


PRINCIPALS = {
    "owner": Principal(email="alice@example.com", permissions=frozenset({"jobbergate:job-scripts:read"})),
    "other person": Principal(email="bob@example.com", client_id="cli"),
    "maintainer": Principal(email="m@example.com", permissions=frozenset({Permission.MAINTAINER.value})),
    "agent of the cluster": Principal(email=None, client_id="cluster-a"),
    "agent of another cluster": Principal(email=None, client_id="cluster-b"),
    "no e-mail, no client": Principal(email=None),
    # visible_to reads e-mails and client ids by truth: empty ones are none at all.
    "empty client id": Principal(email=None, client_id=""),
    "empty e-mail": Principal(email="", client_id="cluster-a"),
    "empty e-mail and client id": Principal(email="", client_id=""),
}


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_visible_row_is_the_visibility_rule_of_each_resource_for_each_kind_of_caller(who):
    principal = PRINCIPALS[who]
    template = make_template("alice@example.com")
    archived = make_job_script("alice@example.com", template=template)
    archived.is_archived = True
    archived.save()
    rows = {
        JobScriptTemplate: [template.pk],
        JobScript: [make_job_script("alice@example.com", template=template).pk, archived.pk],
        JobSubmission: [
            make_submission("alice@example.com", client_id="cluster-a").pk,
            make_submission("alice@example.com", client_id="").pk,  # not made by the API; the admin could
        ],
    }
    rows[JobScript] += [row.job_script_id for row in JobSubmission.objects.filter(pk__in=rows[JobSubmission])]
    for model, pks in rows.items():
        related = ("job_script",) if model is JobSubmission else ()
        for pk in [*pks, 10**6]:
            orm = model.objects.visible_to(principal).select_related(*related).filter(pk=pk).first()
            prepared = visible_row(model, principal, pk, related=related)
            same([prepared] if prepared else [], [orm] if orm else [])
            if orm is not None and related:
                same([prepared.job_script], [orm.job_script])
    assert visible_row(JobScript, principal, "not an id") is None
    assert visible_row(JobScript, principal, 10**30) is None


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_visible_row_reads_the_children_with_the_row_under_the_same_rule(who):
    principal = PRINCIPALS[who]
    with_files = make_job_script("alice@example.com")
    bare = make_job_script("alice@example.com", files=False)
    for pk in (with_files.pk, bare.pk, 10**6):
        expected = JobScript.objects.visible_to(principal).filter(pk=pk).first()
        with CaptureQueriesContext(connection) as queries:
            found = visible_row(JobScript, principal, pk, children="files")
            children = list(found.files.all()) if found is not None else []
        same([found] if found else [], [expected] if expected else [])
        if expected is None:
            continue
        prefetch_related_objects([expected], "files")
        same(children, list(expected.files.all()))  # the same rows in the same order (Meta.ordering)
        assert all(child.parent is found for child in children)
        if pk == with_files.pk:
            assert len(children) == 2 and len(queries.captured_queries) == 1  # the row and its files together
    with pytest.raises(TypeError):
        visible_row(JobSubmission, principal, 1, related=("job_script",), children="progress")


def test_prefetch_children_leaves_what_prefetch_related_leaves():
    template = make_template("alice@example.com")
    job_script = make_job_script("alice@example.com", template=template)
    bare = make_job_script("alice@example.com", files=False)
    for instance, name in [(job_script, "files"), (bare, "files"), (template, "template_files")]:
        expected = type(instance).objects.get(pk=instance.pk)
        prefetch_related_objects([expected], name)
        prefetched = type(instance).objects.get(pk=instance.pk)
        prefetch_children(prefetched, name)
        with CaptureQueriesContext(connection) as queries:
            children = list(getattr(prefetched, name).all())
            assert all(child.parent is prefetched for child in children)
        assert queries.captured_queries == []
        same(children, list(getattr(expected, name).all()))
    assert [row.filename for row in prefetched_files(job_script)] == ["input.txt", "job.sh"]  # Meta.ordering


def prefetched_files(job_script):
    instance = JobScript.objects.get(pk=job_script.pk)
    prefetch_children(instance, "files")
    return instance.files.all()


def test_new_children_are_held_as_prefetch_children_leaves_them():
    """One child just written is held without a query; several are read back in the database's order (its
    collation orders file names), so the answer of a create is the answer of the next read."""
    from jobscripts.models import JobScriptFile

    job_script = make_job_script("alice@example.com", files=False)
    row = JobScriptFile(parent=job_script, filename="job.sh", file_type="ENTRYPOINT", storage_key="k", size=0)
    row.save()
    with CaptureQueriesContext(connection) as queries:
        hold_new_children(job_script, "files", [row])
        assert list(job_script.files.all()) == [row] and row.parent is job_script
    assert queries.captured_queries == []
    same(job_script.files.all(), prefetched_files(job_script))

    several = make_job_script("alice@example.com")
    rows = list(several.files.order_by("-filename"))  # not Meta.ordering
    with CaptureQueriesContext(connection) as queries:
        hold_new_children(several, "files", rows)
    assert len(queries.captured_queries) == 1
    same(several.files.all(), prefetched_files(several))

    bare = make_job_script("alice@example.com", files=False)
    hold_new_children(bare, "files", [])
    assert list(bare.files.all()) == []
    with pytest.raises(ValueError):
        hold_new_children(bare, "files", [row])  # another's child
    with pytest.raises(ValueError):
        hold_new_children(bare, "files", [JobScriptFile(parent=bare, filename="x.sh")])  # not saved


def test_prefetch_children_refuses_what_is_not_a_reverse_foreign_key():
    with pytest.raises(ImproperlyConfigured):
        prefetch_children(make_job_script("alice@example.com", files=False), "parent_template")


def test_an_application_is_found_by_id_or_identifier_as_by_key_finds_it():
    from applications.models import visible_application

    template = make_template("alice@example.com")
    caller = PRINCIPALS["other person"]
    for key in (str(template.pk), template.identifier, "no-such-app", "9" * 19, "x\x00", str(10**6)):
        expected = JobScriptTemplate.objects.visible_to(caller).by_key(key).first()
        found = visible_application(caller, key)
        same([found] if found else [], [expected] if expected else [])
        with_files = visible_application(caller, key, with_files=True)
        same([with_files] if with_files else [], [expected] if expected else [])
        if expected is not None:
            same(list(with_files.template_files.all()), list(expected.template_files.order_by("filename")))
    assert visible_application(caller, template.identifier).pk == template.pk


def row_of(instance) -> dict:
    """A row as the database holds it, read back by the ORM."""
    return fields_of(type(instance).objects.get(pk=instance.pk))


def test_a_prepared_insert_stores_and_returns_what_django_s_insert_does(monkeypatch):
    from jobbergate.prepared import PreparedInsert
    from jobscripts.models import JobScriptFile
    from submissions.models import JobProgress

    def make_all():
        template = make_template("alice@example.com", files=False)
        script = JobScript.objects.create(
            name="s", owner_email="alice@example.com", parent_template=template, render_parameters={"a": [1, None]}
        )
        made = [
            template,
            script,
            JobScriptFile.objects.create(parent=script, filename="job.sh", file_type="ENTRYPOINT", storage_key="k"),
            JobSubmission.objects.create(
                name="sub", owner_email="alice@example.com", job_script=script, client_id="c", sbatch_arguments=["-N1"]
            ),
            JobSubmission.objects.create(name="bare", owner_email="alice@example.com", job_script=None, client_id="c"),
        ]
        made.append(JobProgress.objects.create(submission=made[3], status="CREATED", additional_info=None))
        return made

    def shape(instance) -> dict:
        row = row_of(instance)
        assert {key: getattr(instance, key) for key in row} == row  # the instance holds what was stored
        ignored = {"id", "created_at", "updated_at", "timestamp", "parent_id", "parent_template_id"}
        ignored |= {"job_script_id", "submission_id", "identifier", "name", "description"} & row.keys()
        return {key: value for key, value in row.items() if key not in ignored}

    import jobbergate.prepared as prepared_module

    compiled, ran = [], []
    compile_insert, insert_prepared = prepared_module._compile_insert, prepared_module._insert_prepared
    monkeypatch.setattr(prepared_module, "_compile_insert", lambda *a: compiled.append(a) or compile_insert(*a))
    monkeypatch.setattr(prepared_module, "_insert_prepared", lambda *a: ran.append(insert_prepared(*a)) or ran[-1])
    make_all()  # the SQL of each kind of row is made here, if not before
    compiled.clear(), ran.clear()
    prepared = make_all()
    assert compiled == [] and len(ran) == len(prepared) and None not in ran  # every row from kept SQL
    monkeypatch.setattr(PreparedInsert, "_do_insert", models.Model._do_insert)
    orm = make_all()
    assert [shape(row) for row in prepared] == [shape(row) for row in orm]
    assert all(row.pk and row.pk != other.pk for row, other in zip(prepared, orm, strict=True))


def test_an_insert_with_an_expression_goes_through_django():
    from django.db.models.functions import Now, Upper

    from jobbergate.prepared import _insert_prepared

    script = JobScript(name=Upper(models.Value("upper")), owner_email="alice@example.com")
    fields = [field for field in JobScript._meta.local_concrete_fields if not field.primary_key]
    assert _insert_prepared(script, "default", fields, [JobScript._meta.pk], False) is None
    script.save()
    script.refresh_from_db()
    assert script.name == "UPPER"
    stamped = JobScript.objects.create(name="x", owner_email="alice@example.com")
    JobScript.objects.filter(pk=stamped.pk).update(updated_at=Now())  # an UPDATE: not this path, still works


def test_insert_together_stores_what_saving_each_in_turn_stores():
    from jobbergate.prepared import insert_together
    from submissions.models import JobProgress

    script = make_job_script("alice@example.com")

    def made(together: bool):
        submission = JobSubmission(
            name="sub", owner_email="alice@example.com", job_script=script, client_id="c", sbatch_arguments=["-N1"]
        )
        entries = [JobProgress(submission=submission, status="CREATED", additional_info=f"entry {n}") for n in (1, 2)]
        with CaptureQueriesContext(connection) as queries:
            if together:
                insert_together(submission, *entries)
            else:
                submission.save()
                for entry in entries:
                    entry.save()
        return submission, entries, queries.captured_queries

    submission, entries, queries = made(True)
    if connection.vendor == "postgresql":  # one statement, and no transaction of its own inside the test's
        assert [query["sql"].split()[0] for query in queries] == ["WITH"]
    else:  # SQLite cannot write one row's id into another's in one statement: each saved in turn
        assert [query["sql"].split()[0] for query in queries] == ["INSERT"] * 3
    assert not submission._state.adding and all(not entry._state.adding for entry in entries)
    assert [entry.submission_id for entry in entries] == [submission.pk] * 2
    assert entries[0].pk < entries[1].pk
    expected_submission, expected_entries, _ = made(False)
    for row, expected in [(submission, expected_submission), *zip(entries, expected_entries, strict=True)]:
        stored = row_of(row)
        assert {key: getattr(row, key) for key in stored} == stored  # the instance holds what was stored
        ignored = {"id", "created_at", "updated_at", "timestamp", "submission_id"}
        assert {k: v for k, v in stored.items() if k not in ignored} == {
            k: v for k, v in row_of(expected).items() if k not in ignored
        }


@pytest.mark.django_db(transaction=True)
def test_insert_together_writes_all_rows_or_none():
    from django.db import DataError, IntegrityError

    from jobbergate.prepared import insert_together
    from submissions.models import JobProgress

    script = make_job_script("alice@example.com")
    before = JobSubmission.objects.count(), JobProgress.objects.count()
    submission = JobSubmission(name="sub", owner_email="alice@example.com", job_script=script, client_id="c")
    entry = JobProgress(submission=submission, status="NOT A STATUS" * 10)  # too long for its column
    if connection.vendor == "sqlite":  # SQLite does not check a column's length: a foreign key it does check
        entry = JobProgress(submission=submission, status="CREATED")
        submission.cloned_from_id = 10**6
    with pytest.raises(IntegrityError if connection.vendor == "sqlite" else DataError):
        insert_together(submission, entry)
    assert (JobSubmission.objects.count(), JobProgress.objects.count()) == before


def test_insert_together_saves_each_row_when_a_child_has_save_receivers():
    from django.db.models.signals import post_save

    from jobbergate.prepared import insert_together
    from submissions.models import JobProgress

    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    post_save.connect(receiver, sender=JobProgress, dispatch_uid="test_insert_together")
    try:
        submission = JobSubmission(name="sub", owner_email="alice@example.com", client_id="c")
        entry = JobProgress(submission=submission, status="CREATED")
        insert_together(submission, entry)
    finally:
        post_save.disconnect(sender=JobProgress, dispatch_uid="test_insert_together")
    assert heard == [(entry.pk, True)] and entry.submission_id == submission.pk
    with pytest.raises(ValueError, match="does not point at"):
        insert_together(JobSubmission(name="x", owner_email="a@example.com", client_id="c"), JobProgress())
