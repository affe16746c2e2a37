"""Each owner's count of live job scripts, kept by the database (jobscripts migration 0006), and the default list's
total read from it: equal to counting the rows after every kind of write, on PostgreSQL and SQLite."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobbergate.api.filters import asks_own_live_rows
from jobscripts.models import JobScript, LiveJobScriptCount
from testkit.factories import make_job_script, make_template

pytestmark = pytest.mark.django_db

OWNERS = ("alice@example.com", "bob@example.com", "carol@example.com")


def assert_counts_hold():
    for owner in OWNERS:
        rows = JobScript.objects.filter(owner_email=owner, is_archived=False).count()
        assert LiveJobScriptCount.of(owner) == rows, owner


def test_the_count_follows_every_kind_of_write():
    alice, bob, carol = OWNERS
    first = make_job_script(alice, files=False)
    make_job_script(alice, files=False)
    JobScript.objects.bulk_create([JobScript(name=f"b{n}", owner_email=bob) for n in range(5)])
    JobScript.objects.create(name="archived at birth", owner_email=carol, is_archived=True)
    assert [LiveJobScriptCount.of(owner) for owner in OWNERS] == [2, 5, 0]
    assert_counts_hold()

    first.is_archived = True
    first.save()  # archive, through the model
    assert_counts_hold()
    first.save()  # saved again unchanged: nothing moves
    first.name = "renamed"
    first.save(update_fields=["name"])
    assert_counts_hold()
    JobScript.objects.filter(owner_email=bob)[:1].get().delete()  # delete one
    JobScript.objects.filter(owner_email=bob, name__in=["b1", "b2"]).update(is_archived=True)  # archive in bulk
    assert_counts_hold()
    JobScript.objects.filter(owner_email=bob, name="b1").update(is_archived=False)  # unarchive
    JobScript.objects.filter(owner_email=bob, name="b3").update(owner_email=carol)  # change of owner
    JobScript.objects.filter(name="archived at birth").update(owner_email=alice, is_archived=False)  # both at once
    assert_counts_hold()
    JobScript.objects.filter(owner_email=carol).delete()  # delete in bulk
    first.is_archived = False
    first.save()
    assert_counts_hold()
    assert [LiveJobScriptCount.of(owner) for owner in OWNERS] == [3, 2, 0]


def test_the_migration_fills_the_counts_from_the_rows():
    make_job_script("alice@example.com", files=False)
    JobScript.objects.bulk_create([JobScript(name=f"b{n}", owner_email="bob@example.com") for n in range(3)])
    JobScript.objects.create(name="old", owner_email="bob@example.com", is_archived=True)
    LiveJobScriptCount.objects.all().delete()
    migration = importlib.import_module("jobscripts.migrations.0006_live_job_script_count")
    with connection.cursor() as cursor:
        cursor.execute(migration.FILL)
    assert_counts_hold()


UPSTREAM_CLI_LIST = "user_only=true&include_archived=false&sort_ascending=false&sort_field=id&page=1&size=2"


def counted_rows(queries) -> bool:
    return any("COUNT(" in query["sql"] and "jobscripts_jobscript" in query["sql"] for query in queries)


def test_the_default_list_reads_its_total_without_counting_the_rows(alice, bob):
    for _ in range(3):
        make_job_script(alice.email, files=False)
    make_job_script(bob.email, files=False)
    JobScript.objects.create(name="old", owner_email=alice.email, is_archived=True)
    with CaptureQueriesContext(connection) as queries:
        body = alice.client.get(f"/jobbergate/job-scripts?{UPSTREAM_CLI_LIST}").json()
    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)
    assert not counted_rows(queries.captured_queries)


@pytest.mark.parametrize(
    "query, total",
    [
        ("user_only=true&include_archived=true", 4),  # archived ones too
        ("user_only=true&search=job", 3),
        ("user_only=true&from_job_script_template_id=1", 0),
        ("", 3),  # alice sees her own rows only, counted
    ],
)
def test_any_other_list_counts_its_rows(alice, bob, query, total):
    for _ in range(3):
        make_job_script(alice.email, files=False)
    make_job_script(bob.email, files=False)
    JobScript.objects.create(name="old", owner_email=alice.email, is_archived=True)
    with CaptureQueriesContext(connection) as queries:
        assert alice.client.get(f"/jobbergate/job-scripts?{query}").json()["total"] == total
    assert counted_rows(queries.captured_queries)


@pytest.mark.parametrize("who", ["alice", "dave"])  # a user, a maintainer (who may read every row)
def test_the_default_list_read_prepared_is_what_the_orm_answers(alice, bob, dave, monkeypatch, who):
    """The upstream CLI's list is read with a prepared query (ResourceViewSet.own_live_page): every order and page of
    it answers what the ORM's path answers, and a bad sort_field is the same 400."""
    from jobbergate.api.viewsets import ResourceViewSet
    from jobbergate.prepared import PreparedQuery

    caller = {"alice": alice, "dave": dave}[who]
    template = make_template(caller.email)
    for n in range(5):
        make_job_script(caller.email, files=False, name=f"js {n % 3}", template=template if n % 2 else None)
    make_job_script(bob.email, files=False)
    JobScript.objects.create(name="old", owner_email=caller.email, is_archived=True)
    queries = [
        f"user_only=true&sort_field={field}&sort_ascending={ascending}&page={page}&size=2"
        for field in ("", "id", "name", "parent_template_id", "created_at")
        for ascending in ("true", "false")
        for page in (1, 3, 4)
    ] + ["user_only=true&sort_field=bogus", "user_only=true&sort_ascending=maybe", "user_only=true&size=0"]

    def answers():
        return [(r.status_code, r.json()) for r in (caller.client.get(f"/jobbergate/job-scripts?{q}") for q in queries)]

    pages = []
    real_page = PreparedQuery.page
    monkeypatch.setattr(
        PreparedQuery, "page", lambda self, *args, **kw: pages.append(real_page(self, *args, **kw)) or pages[-1]
    )
    prepared = answers()
    assert len(pages) == 5 * 2 * 2  # every order, pages 1 and 3 (page 4 is past the end: not read)
    if connection.vendor == "postgresql":  # each row read as the JSON PostgreSQL writes for it (jobbergate.database)
        assert {tuple(row) for rows in pages for row in rows} == {("wire_json",)}
    monkeypatch.setattr(ResourceViewSet, "own_live_page", lambda self, request, shape: None)
    assert prepared == answers()
    assert [status for status, _ in prepared[-3:]] == [400, 400, 400]
    assert {row["name"] for _, body in prepared[:-3] for row in body["items"]} == {"js 0", "js 1", "js 2"}


def test_a_maintainer_s_own_list_is_their_own_rows(alice, dave):
    make_job_script(alice.email, files=False)
    make_job_script(dave.email, files=False)
    assert dave.client.get(f"/jobbergate/job-scripts?{UPSTREAM_CLI_LIST}").json()["total"] == 1
    assert dave.client.get("/jobbergate/job-scripts").json()["total"] == 2  # everyone's, counted


def test_which_lists_are_the_caller_s_own_live_rows():
    assert asks_own_live_rows({"user_only": "true"})
    assert asks_own_live_rows({"user_only": "1", "include_archived": "false", "page": "3", "sort_field": "name"})
    assert not asks_own_live_rows({})
    assert not asks_own_live_rows({"user_only": "false"})
    assert not asks_own_live_rows({"user_only": "true", "include_archived": "true"})
    assert not asks_own_live_rows({"user_only": "true", "search": ""})
    assert not asks_own_live_rows({"user_only": "true", "anything": "x"})
