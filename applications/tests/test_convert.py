"""The converter reads jobbergate.py without running it and says where it cannot convert."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from applications.convert import convert_workflow
from applications.questions import check_questions

TRICKY = """
import os
from jobbergate_cli.subapps.applications.application_base import JobbergateApplicationBase
from jobbergate_cli.subapps.applications.questions import Integer, List, Text

open("/tmp/converter-ran-me", "w")


class JobbergateApplication(JobbergateApplicationBase):
    def mainflow(self, data):
        if os.environ.get("X"):
            data["nextworkflow"] = "second"
        return [
            Integer("nodes", "Nodes?", minval=1, maxval=os.cpu_count(), default=1),
            List("queue", "Queue?", choices=self.partitions(), default="debug"),
            Text("note", "Note?", ignore=lambda data: data["nodes"] > 1),
        ]
"""


def test_the_legacy_example_converts_completely():
    source = (Path(settings.BASE_DIR) / "examples" / "legacy-simulation" / "jobbergate.py").read_text()
    conversion = convert_workflow(source)
    assert conversion.complete, conversion.problems
    assert [q["name"] for q in conversion.questions] == [
        "partition",
        "steps",
        "solver",
        "outputs",
        "restart",
        "restart_file",
    ]
    assert conversion.questions[-1]["when"] == {"restart": True}
    check_questions(conversion.questions)


def test_run_time_decisions_are_reported_with_their_lines_and_nothing_runs(tmp_path):
    conversion = convert_workflow(TRICKY)
    text = "\n".join(conversion.problems)
    assert "next step is chosen at run time" in text
    assert "maxval of 'nodes' is computed" in text
    assert "choices of 'queue' is computed" in text
    assert "run-time ignore" in text
    assert [q["name"] for q in conversion.questions] == ["nodes", "queue", "note"]
    assert not Path("/tmp/converter-ran-me").exists()


def test_the_command_prints_questions_and_can_write_them(tmp_path):
    import shutil

    folder = tmp_path / "legacy"
    shutil.copytree(Path(settings.BASE_DIR) / "examples" / "legacy-simulation", folder)
    out, err = StringIO(), StringIO()
    call_command("convert_workflow", str(folder), "--write", stdout=out, stderr=err)
    assert "name: restart_file" in out.getvalue()
    assert "6 question(s) converted, 0 place(s) not converted." in err.getvalue()
    assert "questions:" in (folder / "jobbergate.yaml").read_text()
    with pytest.raises(Exception, match="already declares questions"):
        call_command("convert_workflow", str(folder), "--write", stdout=StringIO(), stderr=StringIO())


def test_choices_given_as_label_and_value_pairs_convert_to_their_values():
    source = """
class JobbergateApplication(JobbergateApplicationBase):
    def mainflow(self, data):
        return [
            List("queue", "Queue?", choices=[("Debug (10 min)", "debug"), ("Compute", "compute")]),
            Checkbox("fields", "Fields?", choices=("p", "v")),
        ]
"""
    conversion = convert_workflow(source)
    assert [question["choices"] for question in conversion.questions] == [["debug", "compute"], ["p", "v"]]
    assert check_questions(conversion.questions) == conversion.questions
