"""Every option of the upstream ``jobbergate-cli`` 5.12 is accepted by ours, with the same shape.

The upstream CLI (in ``.venv-upstream``) is walked in one process of its own Python: each command's ``--help`` is
rendered and its parameters read, so an option appears here exactly when upstream's help shows it. Nothing is
cached: a newer upstream in ``.venv-upstream`` is compared as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click
import pytest
from jobbergate_cli.main import cli

from conftest import require_real_part

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = (
    Path(os.environ.get("JOBBERGATE_UPSTREAM_CLI", ROOT / ".venv-upstream/bin/jobbergate")).parent / "python"
)

# Typer's shell-completion installers: part of every Typer program, not of Jobbergate's command lines.
NOT_JOBBERGATE = {"--install-completion", "--show-completion"}

WALK_UPSTREAM = r"""
import json, typer
from typer._click import Context
from typer.testing import CliRunner
from jobbergate_cli.main import app

root = typer.main.get_command(app)
runner = CliRunner()
commands = {}

def walk(command, path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exit_code == 0, (path, result.output)
    params = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        described = param.type_descriptor
        params.append({
            "argument": param.param_type_name == "argument",
            "names": [*param.opts, *param.secondary_opts],
            "flag": bool(getattr(param, "is_flag", False)),
            "multiple": bool(param.multiple),
            "choices": [str(getattr(c, "value", c)) for c in described.choices or ()] if described.is_choice else None,
            "in_help": all(name in result.output for name in param.opts if name.startswith("-")),
        })
    commands[" ".join(path)] = params
    if hasattr(command, "list_commands"):
        context = Context(command)
        for name in command.list_commands(context):
            walk(command.get_command(context, name), [*path, name])

walk(root, [])
print(json.dumps(commands))
"""


def upstream_commands() -> dict[str, list[dict]]:
    if not UPSTREAM_PYTHON.exists():
        require_real_part(f"{UPSTREAM_PYTHON} is missing: scripts/test installs requirements-upstream.txt there")
    result = subprocess.run(
        [str(UPSTREAM_PYTHON), "-I", "-c", WALK_UPSTREAM], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def our_command(path: str) -> click.Command | None:
    command: click.Command | None = cli
    for name in path.split():
        if not isinstance(command, click.Group):
            return None
        command = command.get_command(click.Context(command), name)
    return command


def differences(path: str, upstream_params: list[dict]) -> list[str]:
    """What an upstream command line for ``path`` would use that ours does not take the same way."""
    where = f"jobbergate {path}".strip()
    command = our_command(path)
    if command is None:
        return [f"{where}: no such command"]
    ours = {name: param for param in command.params for name in (*param.opts, *param.secondary_opts)}
    our_arguments = [param for param in command.params if isinstance(param, click.Argument)]
    upstream_arguments = [param for param in upstream_params if param["argument"]]
    found = []
    if len(our_arguments) < len(upstream_arguments):
        found.append(f"{where}: takes {len(our_arguments)} positional arguments, upstream takes more")
    for param in upstream_params:
        if param["argument"]:
            continue
        assert param["in_help"], (path, param["names"])
        for name in param["names"]:
            mine = ours.get(name)
            if name in NOT_JOBBERGATE:
                continue
            if mine is None:
                found.append(f"{where} {name}: missing")
            elif getattr(mine, "is_flag", False) != param["flag"]:
                found.append(f"{where} {name}: upstream's is {'' if param['flag'] else 'not '}a flag")
            elif param["multiple"] and not mine.multiple:
                found.append(f"{where} {name}: upstream's may be repeated")
            elif param["choices"] is not None and isinstance(mine.type, click.Choice):
                fold = str if mine.type.case_sensitive else str.lower
                unknown = {fold(c) for c in param["choices"]} - {fold(str(c)) for c in mine.type.choices}
                if unknown:
                    found.append(f"{where} {name}: does not accept {sorted(unknown)}")
    return found


@pytest.mark.interop
def test_every_upstream_option_is_accepted_by_ours_the_same_way():
    commands = upstream_commands()
    assert {"applications update", "job-scripts create", "job-submissions list"} <= set(commands)
    found = [line for path, params in commands.items() for line in differences(path, params)]
    assert not found, "\n".join(found)


def test_a_missing_option_is_reported():
    upstream = [
        {
            "argument": False,
            "names": ["--frobnicate"],
            "flag": True,
            "multiple": False,
            "choices": None,
            "in_help": True,
        }
    ]
    assert differences("applications list", upstream) == ["jobbergate applications list --frobnicate: missing"]
