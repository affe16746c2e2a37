"""Every example application imports by command and renders through the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from applications.management.commands.import_applications import import_application
from applications.models import JobScriptTemplate
from applications.questions import complete_answers
from jobscripts.models import JobScript

EXAMPLES = sorted(path for path in (Path(settings.BASE_DIR) / "examples").iterdir() if path.is_dir())


@pytest.mark.django_db
@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda path: path.name)
def test_an_example_imports_and_renders_through_the_api(alice, folder):
    result = import_application(folder, owner=alice.email)
    assert result.outcome == "created", result.detail
    template = JobScriptTemplate.objects.get(identifier=folder.name)
    runtime = template.workflow_files.first().runtime_config if template.workflow_files.exists() else {}
    if not runtime:
        import yaml

        runtime = yaml.safe_load(template.config_source)["jobbergate_config"]
    answers, errors = complete_answers(template.questions, dict(template.template_vars))
    assert errors == {}
    mapping = {
        row.filename: row.filename.rsplit("/", 1)[-1].removesuffix(".j2") for row in template.template_files.all()
    }
    response = alice.client.post(
        f"/jobbergate/job-scripts/render-from-template/{template.identifier}",
        {
            "create_request": {"name": folder.name},
            "render_request": {
                "template_output_name_mapping": mapping,
                "sbatch_params": ["--comment=example"],
                "param_dict": {"data": {**runtime, **answers}},
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    job_script = JobScript.objects.get(pk=response.json()["id"])
    entrypoint = job_script.files.get(file_type="ENTRYPOINT").read_text()
    assert entrypoint.startswith("#!/bin/bash\n")
    assert "#SBATCH --comment=example" in entrypoint
    assert import_application(folder, owner=alice.email).outcome == "unchanged"


@pytest.mark.django_db
def test_the_schema_of_an_example_lists_its_questions(alice):
    import_application(Path(settings.BASE_DIR) / "examples" / "gpu-training", owner=alice.email)
    schema = alice.client.get("/jobbergate/job-script-templates/gpu-training/schema").json()
    assert schema["properties"]["gpus"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 8,
        "title": "GPUs per job?",
        "default": 1,
        "x-jobbergate-type": "integer",
    }
    assert "scratch_dir" in schema["properties"] and "scratch_dir" not in schema["required"]


@pytest.mark.django_db
def test_render_checks_answers_against_the_questions_first(alice):
    import_application(Path(settings.BASE_DIR) / "examples" / "hello-serial", owner=alice.email)
    response = alice.client.post(
        "/jobbergate/job-scripts/render-from-template/hello-serial",
        {
            "create_request": {"name": "bad"},
            "render_request": {
                "template_output_name_mapping": {"job.sh.j2": "job.sh"},
                "param_dict": {"data": {"minutes": 500, "partition": "gpu", "job_name": "bad name!"}},
            },
        },
        format="json",
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"param_dict.minutes", "param_dict.partition", "param_dict.job_name"}
    assert not JobScript.objects.exists()
