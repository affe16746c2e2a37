"""Health probe, the OpenAPI document and the offline API docs."""

from __future__ import annotations

import pytest
from django.core.management import call_command


def test_health_answers_204_without_authentication(client):
    response = client.get("/jobbergate/health")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.django_db
def test_the_openapi_document_describes_every_contract_path(client):
    schema = client.get("/jobbergate/openapi.json").json()
    assert schema["info"]["version"]
    paths = set(schema["paths"])
    for path in [
        "/jobbergate/job-script-templates",
        "/jobbergate/job-script-templates/{id}",
        "/jobbergate/job-script-templates/clone/{id}",
        "/jobbergate/job-script-templates/{id}/upload/template/{name}",
        "/jobbergate/job-script-templates/{id}/upload/workflow",
        "/jobbergate/job-scripts",
        "/jobbergate/job-scripts/{id}",
        "/jobbergate/job-scripts/clone/{id}",
        "/jobbergate/job-scripts/{id}/upload/{name}",
        "/jobbergate/job-submissions",
        "/jobbergate/job-submissions/{id}",
        "/jobbergate/job-submissions/clone/{id}",
    ]:
        assert path in paths, path
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, marker, local_asset",
    [
        ("/jobbergate/docs", b"swagger-ui", b"/static/drf_spectacular_sidecar/"),
        ("/jobbergate/redoc", b"redoc", b"/jobbergate/redoc.standalone.js"),
    ],
)
def test_the_docs_pages_load_their_assets_locally(client, path, marker, local_asset):
    response = client.get(path)
    assert response.status_code == 200
    assert marker in response.content.lower()
    assert b"cdn.jsdelivr" not in response.content
    assert local_asset in response.content


def test_redocs_bundle_is_served_without_its_request_to_another_host(client):
    response = client.get("/jobbergate/redoc.standalone.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in response.content
    assert len(response.content) > 100_000  # the whole bundle


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.json"))


@pytest.mark.django_db
def test_every_operation_has_a_summary_that_reads_as_a_sentence(client):
    """ReDoc and Swagger UI head each operation with its summary; without one they show the operation id."""
    schema = client.get("/jobbergate/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert operations
    missing = [op["operationId"] for op in operations if not op.get("summary")]
    assert not missing, f"add a sentence to jobbergate/api/schema.py SUMMARIES for {missing}"
    assert all(" " in op["summary"] and op["summary"] != op["operationId"] for op in operations)
