"""render-from-template: the contract's rendering semantics, provenance, and a corpus of hostile templates."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.services import upload_template_file
from jobscripts.models import JobScript
from testkit.factories import make_template

URL = "/jobbergate/job-scripts/render-from-template"

ENTRYPOINT = """#!/bin/bash
# A comment the script wrote itself
#SBATCH --job-name={{ job_name }}
#SBATCH --partition={{ data.partition }}

echo {{ message }} {{ data.message }}
{% if nodes is defined %}echo nodes={{ nodes }}{% endif %}
"""


@pytest.fixture
def app(alice):
    template = make_template(alice.email, identifier="demo", files=False)
    upload_template_file(template=template, file_type="ENTRYPOINT", filename="job.sh.j2", content=ENTRYPOINT.encode())
    upload_template_file(
        template=template, file_type="SUPPORT", filename="input.txt.j2", content=b"value={{ data.message }}\n"
    )
    return template


UPSTREAM_PARAMS = {"data": {"job_name": "j", "partition": "p", "message": "hi"}}


def body(params=None, mapping=None, sbatch=None, name="rendered"):
    return {
        "create_request": {"name": name, "description": "from a test"},
        "render_request": {
            "template_output_name_mapping": mapping or {"job.sh.j2": "job.sh", "input.txt.j2": "input.txt"},
            "sbatch_params": sbatch,
            "param_dict": UPSTREAM_PARAMS if params is None else params,
        },
    }


def files_of(response) -> dict[str, str]:
    return {f["filename"]: f["file_type"] for f in response.json()["files"]}


@pytest.mark.django_db
class TestRendering:
    def test_upstream_shape_renders_flat_and_data_names_alike(self, alice, app):
        response = alice.client.post(f"{URL}/demo", body(), format="json")
        assert response.status_code == 201, response.content
        assert files_of(response) == {"job.sh": "ENTRYPOINT", "input.txt": "SUPPORT"}
        job_script = JobScript.objects.get(pk=response.json()["id"])
        script = job_script.files.get(filename="job.sh").read_text()
        assert "#SBATCH --job-name=j\n#SBATCH --partition=p\n" in script
        assert "echo hi hi\n" in script
        assert "nodes=" not in script
        assert job_script.files.get(filename="input.txt").read_text() == "value=hi\n"
        assert job_script.parent_template_id == app.pk
        assert job_script.owner_email == alice.email

    def test_the_answer_is_what_a_get_answers_afterwards(self, alice, app):
        created = alice.client.post(f"{URL}/demo", body(), format="json").json()
        assert alice.client.get(f"/jobbergate/job-scripts/{created['id']}").json() == created

    def test_a_flat_param_dict_works_too(self, alice, app):
        params = {"job_name": "j", "partition": "p", "message": "flat", "nodes": 4}
        response = alice.client.post(f"{URL}/{app.pk}", body(params), format="json")
        assert response.status_code == 201, response.content
        script = JobScript.objects.get(pk=response.json()["id"]).files.get(filename="job.sh").read_text()
        assert "echo flat flat" in script and "nodes=4" in script

    def test_provenance_is_recorded_and_shown(self, alice, app):
        response = alice.client.post(f"{URL}/demo", body(), format="json").json()
        assert response["render_parameters"] == body()["render_request"]["param_dict"]
        assert len(response["template_content_hash"]) == 64
        again = alice.client.post(f"{URL}/demo", body(), format="json").json()
        assert again["template_content_hash"] == response["template_content_hash"]
        upload_template_file(template=app, file_type="SUPPORT", filename="input.txt.j2", content=b"changed\n")
        changed = alice.client.post(f"{URL}/demo", body(), format="json").json()
        assert changed["template_content_hash"] != response["template_content_hash"]

    def test_sbatch_params_go_after_the_shebang_and_leading_comments(self, alice, app):
        response = alice.client.post(f"{URL}/demo", body(sbatch=["--time=10", "--mem=1G"]), format="json")
        script = JobScript.objects.get(pk=response.json()["id"]).files.get(filename="job.sh").read_text()
        lines = script.splitlines()
        assert lines[0] == "#!/bin/bash"
        injected = lines.index("#SBATCH --time=10")
        assert lines[injected + 1] == "#SBATCH --mem=1G"
        assert lines[injected - 1].startswith("# Slurm options added by Jobbergate")
        assert lines.index("#SBATCH --partition=p") < injected < lines.index("echo hi hi")

    def test_only_mapped_templates_are_rendered(self, alice, app):
        response = alice.client.post(f"{URL}/demo", body(mapping={"job.sh.j2": "run.sh"}), format="json")
        assert files_of(response) == {"run.sh": "ENTRYPOINT"}

    def test_the_rows_are_written_in_one_statement_after_their_bytes(self, alice, app, settings):
        with CaptureQueriesContext(connection) as queries:
            response = alice.client.post(f"{URL}/demo", body(), format="json")
        assert response.status_code == 201, response.content
        statements = [query["sql"].split()[0] for query in queries.captured_queries]
        writes = [statement for statement in statements if statement != "SELECT"]
        if connection.vendor == "postgresql":  # the job script and both files: one round trip, no BEGIN or COMMIT
            assert writes == ["WITH"]
        else:  # SQLite: each row saved in turn (jobbergate.prepared.insert_together)
            assert writes == ["INSERT"] * 3
        folder = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
        for row in JobScript.objects.get(pk=response.json()["id"]).files.all():
            # <kind>/<one of 256 folders>/<random hex>: nothing of the job script's id, no folder made per row
            assert re.fullmatch(r"job-scripts/[0-9a-f]{2}/[0-9a-f]{32}", row.storage_key), row.storage_key
            assert (folder / row.storage_key).read_bytes() == row.read_bytes() and row.size == len(row.read_bytes())


@pytest.mark.django_db
class TestBadRenderRequests:
    def refused(self, persona, payload, status, fragment, key="demo"):
        before = JobScript.objects.count()
        response = persona.client.post(f"{URL}/{key}", payload, format="json")
        assert response.status_code == status, response.content
        assert fragment in response.json()["detail"]
        assert JobScript.objects.count() == before

    def test_printing_an_undefined_variable_names_it(self, alice, app):
        self.refused(alice, body({"data": {"job_name": "j", "message": "m"}}), 422, "'partition' is undefined")

    def test_a_missing_template_is_named(self, alice, app):
        self.refused(alice, body(mapping={"job.sh.j2": "a", "nope.j2": "b"}), 422, "nope.j2")

    def test_no_entrypoint_is_refused(self, alice, app):
        self.refused(alice, body(mapping={"input.txt.j2": "input.txt"}), 422, "ENTRYPOINT")

    def test_two_entrypoints_are_refused(self, alice, app):
        upload_template_file(template=app, file_type="ENTRYPOINT", filename="other.sh.j2", content=b"#!/bin/sh\n")
        self.refused(alice, body(mapping={"job.sh.j2": "a", "other.sh.j2": "b"}), 422, "Exactly one")

    def test_an_output_name_with_a_separator_is_refused(self, alice, app):
        self.refused(alice, body(mapping={"job.sh.j2": "../job.sh"}), 400, "separator")

    def test_duplicate_output_names_are_refused(self, alice, app):
        self.refused(alice, body(mapping={"job.sh.j2": "x", "input.txt.j2": "x"}), 422, "same output")

    def test_a_multiline_sbatch_param_is_refused(self, alice, app):
        self.refused(alice, body(sbatch=["--time=1\necho pwned"]), 422, "one line")

    def test_an_unknown_application_is_404(self, alice):
        self.refused(alice, body(), 404, "found", key="ghost")

    def test_param_dict_must_be_an_object(self, alice, app):
        payload = body()
        payload["render_request"]["param_dict"] = ["not", "a", "dict"]
        self.refused(alice, payload, 422, "param_dict")

    def test_a_reader_cannot_render(self, reader, app):
        self.refused(reader, body(), 403, "jobbergate:job-scripts:create")


HOSTILE_TEMPLATES = {
    "class attribute": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "globals through cycler": "{{ cycler.__init__.__globals__.os }}",
    "globals through joiner": "{{ joiner.__init__.__globals__ }}",
    "format string": "{{ '{0.__class__.__base__}'.format(1) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "str.mro via attr filter": "{{ ''|attr('__class__') }}",
    "huge string": "{{ 'x' * 10000000000 }}",
    "huge list": "{{ [0] * 100000000 }}",
    "huge power": "{{ 9 ** (9 ** 9) }}",
    "huge concatenation": "{% set s = 'x' * 900000 %}{{ s + s }}",
    "endless loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "deep recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "output flood": "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
    "memory hog": "{% set l = [] %}{% for i in range(100000) %}{% set _ = l.append('z' * 900000) %}{% endfor %}",
    # Jinja2 works these out while it compiles (a filter of constant arguments): 600 MB and 1 GB there.
    "huge constant at compile": "{{ '%0600000000d'|format(1) }}",
    "huger constant at compile": "{{ '%0999999999d'|format(1) }}",
}
# Under the default memory limit (1 GiB) the compile builds the 600 MB string and then fails to copy it (repr): a
# MemoryError of the compile, a 500 until the compile was guarded as rendering is. Under 512 MB building the string
# fails already, Jinja2 leaves it to the render, and the render's guard answers.
AT_THE_DEFAULT_MEMORY_LIMIT = {"huge constant at compile"}


@pytest.mark.django_db
@pytest.mark.parametrize("label", list(HOSTILE_TEMPLATES))
def test_a_hostile_template_gets_422_quickly_and_leaves_nothing(alice, settings, label):
    settings.RENDER_TIMEOUT_SECONDS = 1.0
    settings.RENDER_MEMORY_MB = 1024 if label in AT_THE_DEFAULT_MEMORY_LIMIT else 512
    template = make_template(alice.email, identifier="hostile", files=False)
    upload_template_file(
        template=template, file_type="ENTRYPOINT", filename="evil.j2", content=HOSTILE_TEMPLATES[label].encode()
    )
    started = time.monotonic()
    payload = body(params={}, mapping={"evil.j2": "evil.sh"})
    response = alice.client.post(f"{URL}/hostile", payload, format="json")
    assert response.status_code == 422, (label, response.content[:300])
    assert time.monotonic() - started < 10
    assert not JobScript.objects.exists()
    # The server keeps serving: the next render works.
    upload_template_file(template=template, file_type="ENTRYPOINT", filename="fine.j2", content=b"ok {{ x }}")
    fine = alice.client.post(f"{URL}/hostile", body({"x": 1}, mapping={"fine.j2": "fine.sh"}), format="json")
    assert fine.status_code == 201
