"""README.md's command blocks, run in order and exactly as printed, against a live server on a fresh ``var/``.

The blocks are found by their heading, so the test follows the README as it changes: every ``sh`` block is either
run (``RUN``) or skipped with its reason (``SKIPPED``); a block in neither list fails the test until someone says
which it is. They run in a copy of this tree (the README assumes the repository root as the current folder), one
``bash -euo pipefail -c BLOCK`` each, in order; the shell variables a block sets (``TOKEN``, ``API``, ``auth``) are
carried to the next, as in one terminal. The server is what ``scripts/serve`` sets up on the embedded SQLite default
(migrate, ``bootstrap_local_admin``, the examples imported), served by gunicorn on 127.0.0.1:8000, the address the
README prints; when that port is taken the test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from jobbergate.testing.server import gunicorn, outside_environment
from tests.test_serve import copy_of_this_tree

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(Path(sys.executable))
ADDRESS = ("127.0.0.1", 8000)
API = "http://127.0.0.1:8000/jobbergate"

# (heading, index of the sh block under it), in README order.
RUN = [
    ("Use it", 0),
    ("The REST API", 0),
    ("The REST API", 1),
    ("Applications in bulk (`manage.py`)", 0),
    ("API tokens", 0),
]
SKIPPED = {
    ("Set up (a fresh Debian 12 machine with Python 3.11)", 0): "scripts/serve itself: this test does what it does "
    "before serving (tests/test_serve.py runs it)",
    ("Set up (a fresh Debian 12 machine with Python 3.11)", 1): "scripts/test is what runs this test",
    ("Sign-in with Auth0 or Keycloak (OpenID Connect)", 0): "configuration for a real Auth0 tenant",
    ("Sign-in with Auth0 or Keycloak (OpenID Connect)", 1): "configuration for a real Keycloak realm",
    ("The CLI", 0): "not covered yet: needs the job-script questions answered on a terminal, a cluster agent for "
    "--wait and an OpenID provider for login",
    ("The CLI", 1): "installs jobbergate-cli 5.12 from the package index (tests/test_upstream_cli.py runs it)",
    ("The cluster agent (on a Slurm login node)", 0): "runs the agent as root on a real login node "
    "(tests/test_agent_slurm.py covers it)",
    ("HTTPS deployments", 0): "settings for a deployment behind an HTTPS proxy",
}


def readme_blocks(text: str) -> dict[tuple[str, int], str]:
    """Every fenced ``sh`` block of the README, keyed by (the heading above it, its index under that heading)."""
    blocks: dict[tuple[str, int], str] = {}
    heading = ""
    count = 0
    lines = iter(text.splitlines())
    for line in lines:
        found = re.match(r"#{1,6} (.+)", line)
        if found:
            heading, count = found.group(1).strip(), 0
        elif line.strip() == "```sh":
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            blocks[(heading, count)] = "\n".join(body) + "\n"
            count += 1
    return blocks


def port_taken(address: tuple[str, int]) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(address) == 0


def run_block(block: str, cwd: Path, state: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    """One block in ``bash -euo pipefail``, starting from the variables the earlier ones set; saves its own."""
    script = (
        f"source {shlex.quote(str(state))}\n"
        f"{block}\n"
        # Save what the block assigned (readonly and bash's own variables excepted) for the next block.
        f"declare -p $(compgen -v | grep -vxF -f {shlex.quote(str(state))}.names) 2>/dev/null "
        f"| grep -v '^declare -[a-zA-Z]*r' >> {shlex.quote(str(state))} || true\n"
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path):
    """A copy of this tree with a fresh var/ set up as scripts/serve does, and gunicorn serving it on :8000."""
    missing = [program for program in ("git", "curl") if not shutil.which(program)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: the README's blocks use them")
    if port_taken(ADDRESS):
        message = "127.0.0.1:8000, the address the README uses, is taken: stop what listens there"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    copy = copy_of_this_tree(tmp_path / "jobbergate")
    (copy / ".venv").symlink_to(Path(sys.executable).parent.parent)
    environment = outside_environment(HOME=str(tmp_path), JOBBERGATE_LOG_LEVEL="ERROR")
    (copy / "var").mkdir(mode=0o700)
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["bootstrap_local_admin", "--email", "admin@jobbergate.local"],
        ["import_applications", "examples", "--owner", "admin@jobbergate.local"],
    ):
        subprocess.run([PYTHON, "manage.py", *command], cwd=copy, env=environment, check=True, capture_output=True)
    log = tmp_path / "gunicorn.log"
    with gunicorn(bind="127.0.0.1:8000", cwd=copy, environment=environment, log=log, arguments=("--workers", "2")):
        yield copy, environment


def test_every_readme_block_is_run_or_skipped_with_a_reason():
    blocks = readme_blocks((ROOT / "README.md").read_text())
    unclassified = sorted(set(blocks) - set(RUN) - set(SKIPPED))
    assert not unclassified, f"README blocks neither run nor skipped by tests/test_readme.py: {unclassified}"
    gone = sorted((set(RUN) | set(SKIPPED)) - set(blocks))
    assert not gone, f"tests/test_readme.py names blocks the README no longer has: {gone}"


def test_the_readme_blocks_run_as_printed_against_a_live_server(tree):
    copy, environment = tree
    blocks = readme_blocks((copy / "README.md").read_text())
    state = copy.parent / "shell-state"
    state.write_text("")
    baseline = subprocess.run(
        ["bash", "-c", "compgen -v"], env=environment, capture_output=True, text=True, check=True
    ).stdout
    Path(f"{state}.names").write_text(baseline + "BASH_COMMAND\nBASH_REMATCH\nPIPESTATUS\n_\n")
    outputs: dict[tuple[str, int], str] = {}
    for key in RUN:
        result = run_block(blocks[key], copy, state, environment)
        assert result.returncode == 0, f"README block {key} exited {result.returncode}:\n{result.stderr[-3000:]}"
        outputs[key] = result.stdout
        print(f"--- {key}\n{result.stdout}{result.stderr}")

    admin = {"Authorization": f"Bearer {json.loads((copy / 'var' / 'local-admin.json').read_text())['api_token']}"}

    def get(path: str) -> dict:
        answer = requests.get(f"{API}/{path}", headers=admin, timeout=10)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    # The REST API: a template with its uploaded file, a job script by hand, a submission, the health check.
    rest = outputs[("The REST API", 0)]
    assert rest.rstrip().endswith("204"), rest
    for key in [("The REST API", 0), ("The REST API", 1)]:
        assert '"detail"' not in outputs[key], outputs[key]  # every error answer says what is wrong in a detail
    hello = get("job-script-templates/hello")
    assert [item["filename"] for item in hello["template_files"]] == ["job.sh.j2"], hello
    by_hand = get("job-scripts/1")
    assert by_hand["name"] == "by hand" and [item["filename"] for item in by_hand["files"]] == ["job.sh"], by_hand
    submission = get("job-submissions?size=100")["items"]
    assert [(item["name"], item["job_script_id"], item["client_id"]) for item in submission] == [
        ("first run", 1, "my-cluster")
    ]

    # The folder round trip: the archive went up as "my-app", came back as a zip, its schema, a rendered script.
    with tarfile.open(copy / "my-app.tar.gz") as archive:
        assert "hello-serial/jobbergate.yaml" in archive.getnames()
    my_app = get("job-script-templates/my-app")
    assert my_app["name"] == "My app", my_app
    with zipfile.ZipFile(copy / "back.zip") as archive:
        assert "my-app/jobbergate.yaml" in archive.namelist(), archive.namelist()
    assert '"minutes"' in outputs[("The REST API", 1)]  # the schema names hello-serial's question
    rendered = [item for item in get("job-scripts?size=100")["items"] if item["name"] == "hello"]
    assert len(rendered) == 1, rendered
    script = requests.get(f"{API}/job-scripts/{rendered[0]['id']}/upload/job.sh", headers=admin, timeout=10)
    assert script.status_code == 200 and "#SBATCH --time=10" in script.text, script.text

    # Applications in bulk: re-imported, exported to backup/, my-app.tar.gz imported as "my-app".
    bulk = outputs[("Applications in bulk (`manage.py`)", 0)]
    assert "questions:" in bulk, bulk  # convert_workflow printed the typed questions
    exported = sorted(path.name for path in (copy / "backup").iterdir())
    assert "hello-serial.tar.gz" in exported and "my-app.tar.gz" in exported, exported

    # API tokens: alice exists and her token (the last line printed) reads the catalogue but cannot be admin.
    token = outputs[("API tokens", 0)].strip().splitlines()[-1]
    answer = requests.get(f"{API}/job-script-templates", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] >= 7  # the six examples, hello and my-app among them
