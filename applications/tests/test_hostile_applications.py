"""What an ordinary user could upload to slow the service for others: each is refused (or made harmless) at upload,
in the import command and in the admin, and stores nothing (issue 10: patterns, alias bombs, header bombs, folder
floods, the upload race, look-alike identifiers, YAML that is not JSON, deep nesting)."""

from __future__ import annotations

import io
import tarfile
import threading
import tracemalloc
import zipfile
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from applications.bundle import BundleError, read_archive
from applications.models import JobScriptTemplate
from applications.services import bundle_limits
from applications.tests.test_folders import CONFIG, FOLDER, URL, put_archive, tar_gz, zip_bytes
from jobscripts.models import JobScript

pytestmark = pytest.mark.django_db


def assert_refused(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.content
    assert fragment in response.json()["detail"], response.json()


def with_config(extra: bytes) -> dict[str, bytes]:
    return {**FOLDER, "jobbergate.yaml": CONFIG + extra}


# Regular expressions ---------------------------------------------------------------------------------------


PATTERN_APP = b"""\
questions:
  - name: word
    type: text
    pattern: "(a+)+b"
"""


def render(persona, identifier: str, data: dict):
    return persona.client.post(
        f"/jobbergate/job-scripts/render-from-template/{identifier}",
        {
            "create_request": {"name": "x"},
            "render_request": {"template_output_name_mapping": {"job.sh.j2": "job.sh"}, "param_dict": {"data": data}},
        },
        format="json",
    )


def test_a_catastrophic_pattern_checks_a_long_answer_at_once(alice):
    """With Python's backtracking ``re`` this answer takes 2**64 steps; RE2 answers in linear time."""
    assert put_archive(alice, "patterns", tar_gz(with_config(PATTERN_APP))).status_code == 201
    response = render(alice, "patterns", {"word": "a" * 64 + "!"})
    assert_refused(response, 422, "must match")
    accepted = render(alice, "patterns", {"word": "aaab", "partition": "debug", "nodes": 1})
    assert accepted.status_code == 201, accepted.content


@pytest.mark.parametrize(
    "pattern, reason",
    [
        (r"(a)\\1", "invalid escape"),  # a backreference: no linear-time engine can match it
        ("(?=a)a", "invalid perl operator"),  # lookahead
        ("((a{100}){100}){100}", "pattern"),  # a program too large for RE2's memory bound
        ("a" * 1001, "at most 1000 characters"),
    ],
)
def test_a_pattern_re2_cannot_match_in_linear_time_is_422_at_upload(alice, pattern, reason):
    question = f'questions:\n  - name: word\n    type: text\n    pattern: "{pattern}"\n'.encode()
    response = put_archive(alice, "patterns", tar_gz(with_config(question)))
    assert_refused(response, 422, "pattern")
    assert reason in response.json()["detail"]
    assert not JobScriptTemplate.objects.exists()


# YAML: alias bombs, values that are not JSON, deep nesting ---------------------------------------------------


def alias_bomb() -> bytes:
    """The 'billion laughs': under 500 bytes of YAML that expand to 9**9 strings."""
    lines = ['lol0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        refs = ",".join([f"*l{level - 1}"] * 9)
        lines.append(f"lol{level}: &l{level} [{refs}]")
    return ("application_config:\n" + "\n".join("  " + line for line in lines) + "\n").encode()


def test_an_alias_bomb_is_refused_at_upload_before_it_is_stored(alice):
    config = CONFIG.replace(b"application_config:\n  partition: debug\n  nodes: 2\n", b"") + alias_bomb()
    assert len(alias_bomb()) < 600
    tracemalloc.start()
    response = put_archive(alice, "bomb", tar_gz({**FOLDER, "jobbergate.yaml": config}))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_refused(response, 422, "larger than 65,536 bytes as JSON")
    assert peak < 20 * 1024 * 1024  # the expansion was counted, never built: 9**9 strings would be gigabytes
    assert not JobScriptTemplate.objects.exists()


def test_an_alias_bomb_fails_in_the_import_command_too(tmp_path):
    folder = tmp_path / "bomb"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "job.sh.j2").write_bytes(FOLDER["templates/job.sh.j2"])
    (folder / "jobbergate.yaml").write_bytes(b"jobbergate_config:\n  default_template: job.sh.j2\n" + alias_bomb())
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_applications", str(folder), "--owner", "ops@example.com", stdout=out)
    assert "larger than" in out.getvalue()
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.parametrize(
    "yaml_text, fragment",
    [
        (b"  key: !!binary aGVsbG8=\n", "binary"),
        (b"  key: !!set {a, b}\n", "set"),
        (b"  key: !!timestamp 2001-12-14t21:59:43.10-05:00\n", "a date or time is not a JSON value"),
        (b"  key: &self [*self]\n", "nested deeper than 64 levels"),
        (b"  key: .nan\n", "not finite"),
        (b"  key: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested deeper than 64 levels"),
        (b"  key: {" + b"a: {" * 3000 + b"}" * 3001 + b"\n", "nested deeper than 64 levels"),
        (b"  ? [1, 2]\n  : complex key\n", "not valid YAML"),
    ],
)
def test_yaml_that_is_not_plain_json_is_a_clear_422(alice, yaml_text, fragment):
    response = put_archive(alice, "yaml", tar_gz(with_config(b"more_config:\n" + yaml_text)))
    assert_refused(response, 422, fragment)
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.parametrize("value", [b"2024-01-31", b"2001-12-14 21:59:43.10 -5"])
def test_an_unquoted_date_or_time_is_a_422_that_says_to_quote_it(alice, value):
    """YAML 1.1 reads them as date objects, which JSON cannot hold (it was a 500); quoted, they are text."""
    config = CONFIG.replace(b"  nodes: 2\n", b"  nodes: 2\n  start: " + value + b"\n")
    response = put_archive(alice, "dates", tar_gz({**FOLDER, "jobbergate.yaml": config}))
    assert_refused(response, 422, "line 8: a date or time is not a JSON value; quote it")
    assert not JobScriptTemplate.objects.exists()
    quoted = CONFIG.replace(b"  nodes: 2\n", b"  nodes: 2\n  start: '" + value + b"'\n")
    assert put_archive(alice, "dates", tar_gz({**FOLDER, "jobbergate.yaml": quoted})).status_code == 201
    assert JobScriptTemplate.objects.get().template_vars["start"] == value.decode()


def test_template_vars_over_the_size_limit_are_422_through_the_api(alice, settings):
    settings.APPLICATION_MAX_CONFIG_BYTES = 2048
    body = {"name": "big", "identifier": "big", "template_vars": {"blob": "x" * 3000}}
    assert_refused(alice.client.post(URL, body, format="json"), 422, "larger than 2,048 bytes")
    assert not JobScriptTemplate.objects.exists()


def test_the_admin_refuses_template_vars_over_the_size_limit(settings):
    settings.APPLICATION_MAX_CONFIG_BYTES = 2048
    template, response = change_in_the_admin(template_vars='{"blob": "' + "x" * 3000 + '"}')
    assert response.status_code == 200  # the form again, with the error
    assert "larger than 2,048 bytes" in response.content.decode()
    assert template.template_vars == {}


def change_in_the_admin(**fields):
    """Post the admin's change form of a new application with ``fields``; the row as stored afterwards."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    template = JobScriptTemplate.objects.create(name="t", identifier="t", owner_email="carol@example.com")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-the-test")
    browser = Client()
    browser.force_login(admin)
    form = {
        "name": "t",
        "identifier": "t",
        "description": "",
        "owner_email": "carol@example.com",
        "template_vars": "{}",
        "questions": "[]",
        "config_source": "",
        **inline_management_forms(),
        **fields,
    }
    response = browser.post(f"/admin/applications/jobscripttemplate/{template.pk}/change/", form)
    template.refresh_from_db()
    return template, response


def inline_management_forms() -> dict[str, str]:
    forms = {}
    for prefix in ("template_files", "workflow_files"):
        forms.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    return forms


# Deeply nested uploaded files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("jobbergate.py", b"x = " + b"-" * 200_000 + b"1\n", "nested too deeply"),
        ("jobbergate.py", b"x = 1" + b"+1" * 200_000 + b"\n", "nested too deeply"),
        ("templates/job.sh.j2", b"{{ " + b"(" * 20_000 + b"1" + b")" * 20_000 + b" }}", "nested too deeply"),
    ],
)
def test_deeply_nested_python_or_jinja_in_a_folder_is_a_clear_422(alice, name, content, fragment):
    response = put_archive(alice, "deep", tar_gz({**FOLDER, name: content}))
    assert_refused(response, 422, fragment)
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.parametrize(
    "filename, content",
    [
        ("job.sh.j2", b"{{ " + b"(" * 20_000 + b"1" + b")" * 20_000 + b" }}"),
        ("deep.yaml", b"[" * 20_000 + b"]" * 20_000),
        ("deep.py", b"x = " + b"-" * 200_000 + b"1\n"),
    ],
)
def test_deeply_nested_files_uploaded_one_by_one_are_a_clear_422(alice, filename, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    template = JobScriptTemplate.objects.create(name="t", identifier="t", owner_email=alice.email)
    response = alice.client.put(
        f"{URL}/{template.pk}/upload/template/SUPPORT?filename={filename}",
        {"upload_file": SimpleUploadedFile(filename, content)},
        format="multipart",
    )
    assert response.status_code == 422, response.content
    assert "detail" in response.json()
    assert not template.template_files.exists()


# Archives: header bombs, folder floods, one large file ------------------------------------------------------


def long_name_bomb(name_bytes: int, pax: bool = False) -> bytes:
    """A tar whose one member has a name of ``name_bytes`` bytes in a GNU long-name (or PAX) header."""
    buffer = io.BytesIO()
    archive_format = tarfile.PAX_FORMAT if pax else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=buffer, mode="w:gz", format=archive_format) as archive:
        info = tarfile.TarInfo("templates/" + "n" * name_bytes)
        archive.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


@pytest.mark.parametrize("pax", [False, True], ids=["gnu-long-name", "pax"])
def test_an_archive_header_counts_against_the_decompression_limit(alice, settings, pax):
    settings.APPLICATION_MAX_BYTES = 1_000_000
    data = long_name_bomb(8_000_000, pax=pax)
    assert len(data) < 100_000
    tracemalloc.start()
    response = put_archive(alice, "headers", data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_refused(response, 422, "bytes after decompression (archive headers included)")
    assert peak < 6_000_000  # the 8 MB name was never read whole
    assert not JobScriptTemplate.objects.exists()


def folder_flood(count: int, kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in FOLDER.items():
                archive.writestr(name, content)
            for number in range(count):
                archive.writestr(f"templates/d{number}/", b"")
        return buffer.getvalue()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in FOLDER.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for number in range(count):
            info = tarfile.TarInfo(f"templates/d{number}")
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_folder_entries_count_toward_the_member_limit(alice, settings, kind):
    settings.APPLICATION_MAX_FILES = 20
    response = put_archive(alice, "flood", folder_flood(30, kind), archive_name=f"app.{kind}")
    assert_refused(response, 422, "more than 20 members (files and folders)")
    assert not JobScriptTemplate.objects.exists()


def test_the_per_file_limit_applies_inside_archives(alice, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    big = {**FOLDER, "templates/big.j2": b"x" * 150_000}
    for data in (tar_gz(big), zip_bytes(big)):
        assert_refused(put_archive(alice, "big", data), 422, "the limit for one file")
    assert not JobScriptTemplate.objects.exists()


def test_read_archive_bounds_every_byte_it_reads():
    limits = bundle_limits()
    with pytest.raises(BundleError, match="headers included"):
        read_archive(long_name_bomb(limits.max_bytes + 1), limits)


# Agents, and the upload race ----------------------------------------------------------------------------------


def test_an_agent_token_gets_its_403_before_the_archive_is_read(agent, monkeypatch):
    from applications import views

    def never(*args, **kwargs):
        raise AssertionError("the archive was read")

    monkeypatch.setattr(views, "read_folder_upload", never)
    response = put_archive(agent, "from-agent", tar_gz(FOLDER))
    assert response.status_code == 403
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_users_uploading_one_new_identifier_never_let_the_second_overwrite(alice, bob):
    """Alice and Bob race to create the same identifier; whoever loses must never get a 200 over the other's row."""
    for trial in range(15):
        identifier = f"race-{trial}"
        data = tar_gz(FOLDER)
        answers: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def upload(persona, answers=answers, barrier=barrier, identifier=identifier, data=data):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {persona.token}")
            barrier.wait()
            try:
                answers[persona.email] = put_archive_with(client, identifier, data).status_code
            finally:
                connection.close()  # each thread has its own connection; leave none open

        threads = [threading.Thread(target=upload, args=(persona,)) for persona in (alice, bob)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        owner = JobScriptTemplate.objects.get(identifier=identifier).owner_email
        loser = bob.email if owner == alice.email else alice.email
        assert answers[owner] == 201, answers
        assert answers[loser] in (403, 409), answers


def put_archive_with(client, key: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.put(f"{URL}/{key}/application", {"archive": SimpleUploadedFile("a.tar.gz", data)}, format="multipart")


# Look-alike identifiers and file names ------------------------------------------------------------------------


LOOK_ALIKES = [
    "cafe\u0301",  # NFD café
    "caf\u00e9",  # NFC café
    "\uff41pp",  # fullwidth a
    "\u0430pp",  # Cyrillic a
    "app\u200b",  # zero-width space
    "\u202eppa",  # right-to-left override
    "app\nx",
    "a/b",
    ".",
    "..",
    "-app",
    "app name",
]


@pytest.mark.parametrize("identifier", LOOK_ALIKES)
def test_an_identifier_outside_the_alphabet_is_refused_everywhere(alice, identifier):
    response = alice.client.post(URL, {"name": "x", "identifier": identifier}, format="json")
    assert_refused(response, 422, "may hold only ASCII letters")
    if "/" not in identifier and identifier not in (".", ".."):
        from urllib.parse import quote

        upload = put_archive(alice, quote(identifier, safe=""), tar_gz(FOLDER))
        assert 400 <= upload.status_code < 500, upload.content
    assert not JobScriptTemplate.objects.exists()


def test_identifiers_are_unique_regardless_of_case(alice, bob):
    assert alice.client.post(URL, {"name": "x", "identifier": "hello-app"}, format="json").status_code == 201
    assert_refused(bob.client.post(URL, {"name": "x", "identifier": "Hello-App"}, format="json"), 409, "hello-app")
    assert_refused(put_archive(bob, "HELLO-APP", tar_gz(FOLDER)), 409, "case does not count")
    source = JobScriptTemplate.objects.get()
    clone = bob.client.post(f"{URL}/clone/{source.pk}", {"identifier": "Hello-app"}, format="json")
    assert clone.status_code == 409
    assert JobScriptTemplate.objects.count() == 1


def test_the_database_holds_case_insensitive_uniqueness_too():
    from django.db import IntegrityError, transaction

    JobScriptTemplate.objects.create(name="a", identifier="MixedCase", owner_email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        JobScriptTemplate.objects.create(name="b", identifier="mixedcase", owner_email="b@example.com")


@pytest.mark.parametrize("filename", ["job\u202e.sh", "job\u200b.sh", "job\u0085.sh", "job\u2028.sh"])
def test_file_names_refuse_bidi_and_invisible_characters(alice, filename):

    script, response = upload_to_a_new_job_script(alice, filename, b"#!/bin/bash\n", kind="ENTRYPOINT")
    assert_refused(response, 400, "invisible characters")
    assert not script.files.exists()
    assert_refused(put_archive(alice, "bidi", tar_gz({**FOLDER, f"templates/{filename}": b"x"})), 422, "invisible")


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_folder_uploads_name_and_description_have_the_usual_bounds(alice, field):
    """Every catalogue listing sends them: a megabyte of description would slow every user's listing."""
    response = put_archive(alice, "long", tar_gz(FOLDER), **{field: "x" * 10_000})
    assert_refused(response, 422, "255")
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.parametrize(
    "text, fragment",
    [("[" * 100_000 + "]" * 100_000, "nested deeper than 64"), ('{"a": NaN}', "non-finite")],
)
def test_the_admin_refuses_json_the_api_would_refuse_with_the_reason(text, fragment):
    template, response = change_in_the_admin(template_vars=text)
    assert response.status_code == 200
    assert fragment in response.content.decode()
    assert template.template_vars == {}


@pytest.mark.parametrize("identifier", ["caf\u00e9", "Hello App", "\u202eppa"])
def test_the_admin_refuses_an_identifier_outside_the_alphabet(identifier):
    template, response = change_in_the_admin(identifier=identifier)
    assert response.status_code == 200
    assert "may hold only ASCII letters" in response.content.decode()
    assert template.identifier == "t"


def upload_to_a_new_job_script(persona, filename: str, content: bytes, *, kind: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    script = JobScript.objects.create(name="s", owner_email=persona.email)
    response = persona.client.put(
        f"/jobbergate/job-scripts/{script.pk}/upload/{kind}?" + urlencode({"filename": filename}),
        {"upload_file": SimpleUploadedFile("upload", content)},
        format="multipart",
    )
    return script, response


# Parsing costs, and how much a row may hold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, content",
    [
        ("data.yaml", b"[" + b"1," * 1_000_000 + b"1]"),  # ~2 MB: half a minute of pure-Python YAML composing
        ("job.sh.j2", b"{{ [" + b"1," * 1_000_000 + b"1] }}"),
        ("helper.py", b"x = (" + b"1," * 1_000_000 + b"1)\n"),  # ast would take about a gigabyte
    ],
)
def test_parsing_an_uploaded_file_runs_in_a_render_worker_within_its_limits(alice, settings, filename, content):
    """The web worker never parses: a file too costly to parse within RENDER_TIMEOUT_SECONDS or the worker's memory
    is a 422. Which limit comes first depends on the machine's speed: on a quiet fast one, ast runs out of the 256 MB
    before 0.3 s have passed (the parser's MemoryError, which jobbergate.syntax reports as nesting)."""

    settings.RENDER_TIMEOUT_SECONDS = 0.3
    settings.RENDER_MEMORY_MB = 256
    script, response = upload_to_a_new_job_script(alice, filename, content, kind="SUPPORT")
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert "Checking the syntax took longer than 0.3 s" in detail or f"{filename} is nested too deeply" in detail
    assert not script.files.exists()


def test_a_folder_whose_templates_are_too_costly_to_parse_is_a_422(alice, settings):
    settings.RENDER_TIMEOUT_SECONDS = 0.3
    big = b"{{ [" + b"1," * 1_000_000 + b"1] }}"
    assert_refused(put_archive(alice, "costly", tar_gz({**FOLDER, "templates/job.sh.j2": big})), 422, "took longer")
    assert not JobScriptTemplate.objects.exists()


def test_files_uploaded_one_by_one_are_bounded_like_a_folder(alice, settings):
    """Without a bound, 30 files of 5 MB made every download, clone and render of the application cost seconds."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.APPLICATION_MAX_FILES = 3
    settings.APPLICATION_MAX_BYTES = 250_000
    template = JobScriptTemplate.objects.create(name="t", identifier="t", owner_email=alice.email)

    def upload(name: str, size: int):
        return alice.client.put(
            f"{URL}/{template.pk}/upload/template/SUPPORT?filename={name}",
            {"upload_file": SimpleUploadedFile(name, b"x" * size)},
            format="multipart",
        )

    assert upload("a.txt", 100_000).status_code == 200
    assert upload("b.txt", 100_000).status_code == 200
    assert_refused(upload("c.txt", 100_000), 413, "more than 250,000 bytes together")
    assert upload("b.txt", 50_000).status_code == 200  # replacing a file counts its new size only
    assert upload("c.txt", 10).status_code == 200
    assert_refused(upload("d.txt", 10), 422, "the limit is 3")
    assert template.template_files.count() == 3


@pytest.mark.parametrize("filename", ["-rf", "--wrap=id", "cafe\u0301.j2"])
def test_file_names_that_read_as_options_or_are_not_nfc_are_refused(alice, filename):

    script, response = upload_to_a_new_job_script(alice, filename, b"x", kind="SUPPORT")
    assert response.status_code == 400, response.content
    assert not script.files.exists()
