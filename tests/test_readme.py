"""README.md's command blocks, run in order and exactly as printed, against a live server on a fresh ``var/``.

The blocks are found by their heading, so the test follows the README as it changes: every ``sh`` block is either run
(``RUN``) or skipped with its reason (``SKIPPED``); a block in neither list fails the test until someone says which it
is. They run in a copy of this tree (the README assumes the repository root as the current folder), one ``bash -euo
pipefail -c BLOCK`` each, in order; the shell variables a block sets (``TOKEN``, ``API``, ``auth``) are carried to the
next, as in one terminal. The server is what ``scripts/serve`` sets up on the embedded SQLite default (migrate,
``bootstrap_local_admin``, the examples imported), served by the production server on 127.0.0.1:8000, the address the
README prints; when that port is taken the test is skipped, or fails under ``CI=true``. The CLI block runs as alice with
the token the API tokens block gave her, answering its one interactive command with Enter (``KEYBOARD``); the agent
block runs beside the throw-away Slurm cluster as root, and checks that alice's jobs ran as alice."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import require_real_part
from testkit.server import outside_environment, serve
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
    ("The CLI", 0),
]
# Run after RUN where a Slurm cluster is at hand (scripts/test starts one as root: SLURM_CONF), else the test ends
# in a skip (a failure under CI=true) once every other block has passed.
SLURM_RUN = [("The cluster agent (on a Slurm login node)", 1)]
# What a person types while a block runs: Enter for each question `job-scripts create my-hello` asks (four, and
# spare ones), keeping the defaults; no other command of that block reads the terminal.
KEYBOARD = {("The CLI", 0): "\n" * 8}
SKIPPED = {
    ("Set up (a fresh Debian 12 machine with Python 3.11)", 0): "scripts/serve itself: this test does what it does "
    "before serving (tests/test_serve.py runs it)",
    ("Set up (a fresh Debian 12 machine with Python 3.11)", 1): "scripts/test is what runs this test",
    ("Sign-in with Auth0 or Keycloak (OpenID Connect)", 0): "configuration for a real Auth0 tenant",
    ("Sign-in with Auth0 or Keycloak (OpenID Connect)", 1): "configuration for a real Keycloak realm",
    ("The CLI", 1): "signs in through a real OpenID provider's device code flow (tests/test_cli.py runs it against "
    "the test provider)",
    ("The CLI", 2): "installs jobbergate-cli 5.12 from the package index (tests/test_upstream_cli.py runs it)",
    ("The cluster agent (on a Slurm login node)", 0): "a production agent: sudo, a remote server, and it runs until "
    "stopped (the next block runs the agent here)",
    ("The production server", 0): "the command scripts/serve ends with; this test's server starts the same way "
    "(python -m jobbergate.serve from the project folder)",
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


def run_block(
    block: str, cwd: Path, state: Path, environment: dict[str, str], keyboard: str = ""
) -> subprocess.CompletedProcess:
    """One block in ``bash -euo pipefail``, starting from the variables the earlier ones set; saves its own.

    ``keyboard`` is what a person would type while it runs. What the block left running in the background (an
    agent started with ``&``, when a later line failed before ``kill $!``) is stopped with it: the block runs in a
    process group of its own."""
    script = (
        f"source {shlex.quote(str(state))}\n"
        f"{block}\n"
        # Save what the block assigned (readonly and bash's own variables excepted) for the next block.
        f"declare -p $(compgen -v | grep -vxF -f {shlex.quote(str(state))}.names) 2>/dev/null "
        f"| grep -v '^declare -[a-zA-Z]*r' >> {shlex.quote(str(state))} || true\n"
    )
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(keyboard, timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def tree(tmp_path):
    """A copy of this tree with a fresh var/ set up as scripts/serve does, served on :8000 as production is."""
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
    log = tmp_path / "server.log"
    with serve(bind="127.0.0.1:8000", cwd=copy, environment=environment, log=log, arguments=("--workers", "2")):
        yield copy, environment


def test_every_readme_block_is_run_or_skipped_with_a_reason():
    blocks = readme_blocks((ROOT / "README.md").read_text())
    unclassified = sorted(set(blocks) - set(RUN) - set(SLURM_RUN) - set(SKIPPED))
    assert not unclassified, f"README blocks neither run nor skipped by tests/test_readme.py: {unclassified}"
    gone = sorted((set(RUN) | set(SLURM_RUN) | set(SKIPPED)) - set(blocks))
    assert not gone, f"tests/test_readme.py names blocks the README no longer has: {gone}"


def test_the_readme_blocks_run_as_printed_against_a_live_server(tree):
    copy, environment = tree
    blocks = readme_blocks((copy / "README.md").read_text())
    state = copy.parent / "shell-state"
    state.write_text("")
    # bash's own variables are not carried over; the environment's are, since a block may change them (PATH).
    baseline = subprocess.run(
        ["bash", "-c", "compgen -v"], env={}, capture_output=True, text=True, check=True
    ).stdout.split()
    own = "".join(f"{name}\n" for name in baseline if name != "PATH")
    Path(f"{state}.names").write_text(own + "BASH_COMMAND\nBASH_REMATCH\nPIPESTATUS\n_\n")
    outputs: dict[tuple[str, int], str] = {}
    for key in RUN:
        result = run_block(blocks[key], copy, state, environment, KEYBOARD.get(key, ""))
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
    submission = get("job-submissions/1")
    assert (submission["name"], submission["job_script_id"], submission["client_id"]) == ("first run", 1, "my-cluster")

    # The folder round trip: the archive went up as "my-app", came back as a zip, its schema, a rendered script.
    with tarfile.open(copy / "my-app.tar.gz") as archive:
        assert "hello-serial/jobbergate.yaml" in archive.getnames()
    my_app = get("job-script-templates/my-app")
    assert my_app["name"] == "My app", my_app
    with zipfile.ZipFile(copy / "back.zip") as archive:
        assert "my-app/jobbergate.yaml" in archive.namelist(), archive.namelist()
    assert '"minutes"' in outputs[("The REST API", 1)]  # the schema names hello-serial's question
    rendered = get("job-scripts/2")
    assert rendered["name"] == "hello", rendered
    script = requests.get(f"{API}/job-scripts/2/upload/job.sh", headers=admin, timeout=10)
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

    # The CLI, as alice: her application, four job scripts (3-6, after the REST API's 1 and 2), two submissions.
    cli = outputs[("The CLI", 0)]
    assert "alice@example.com" in cli  # show-token --decode
    my_hello = get("job-script-templates/my-hello")
    assert (my_hello["name"], my_hello["owner_email"]) == ("My hello", "alice@example.com"), my_hello
    assert (copy / "copy" / "jobbergate.yaml").is_file() or (copy / "copy" / "my-hello" / "jobbergate.yaml").is_file()
    scripts = {item["id"]: item for item in get("job-scripts?size=100&user_only=false")["items"]}
    assert {key: (scripts[key]["name"], scripts[key]["owner_email"]) for key in (3, 4, 5, 6)} == {
        3: ("run1", "alice@example.com"),
        4: ("run2", "alice@example.com"),
        5: ("legacy-simulation", "alice@example.com"),
        6: ("by-hand", "alice@example.com"),
    }, scripts

    def file_of(script: int, name: str) -> str:
        answer = requests.get(f"{API}/job-scripts/{script}/upload/{name}", headers=admin, timeout=10)
        assert answer.status_code == 200, (script, name, answer.text)
        return answer.text

    assert "#SBATCH --time=5" in file_of(3, "job.sh")  # run1: Enter kept the default of 5 minutes
    assert "#SBATCH --time=10" in file_of(4, "job.sh") and "#SBATCH --time=10" in cli  # show-files --id 4
    assert "gmres" in file_of(5, get("job-scripts/5")["files"][0]["filename"])  # the answers file's solver
    assert "wc -l input.txt" in file_of(6, "run.sh") and file_of(6, "input.txt") == "one\ntwo\nthree\n"
    assert any(path.name.endswith(".sh") for path in (copy / "out").rglob("*")), list((copy / "out").rglob("*"))
    submissions = {item["id"]: item for item in get("job-submissions?size=100")["items"]}
    assert {
        key: (submissions[key]["name"], submissions[key]["job_script_id"], submissions[key]["status"]) for key in (2, 3)
    } == {2: ("run", 4, "CREATED"), 3: ("not-this-one", 6, "CANCELLED")}, submissions

    # The agent on this machine: one cycle submits alice's "run" as alice; the background agent serves the --wait.
    if not (os.environ.get("SLURM_CONF") and os.geteuid() == 0):
        require_real_part("the README's agent block needs root and a Slurm cluster (SLURM_CONF)")
    for key in SLURM_RUN:
        result = run_block(blocks[key], copy, state, environment)
        print(f"--- {key}\n{result.stdout}{result.stderr}")
        assert result.returncode == 0, f"README block {key} exited {result.returncode}:\n{result.stderr[-3000:]}"
    submissions = {item["id"]: item for item in get("job-submissions?size=100")["items"]}
    run = submissions[2]
    assert run["status"] in {"SUBMITTED", "DONE"} and run["slurm_job_id"], run
    owner = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "User", "-j", str(run["slurm_job_id"])], capture_output=True, text=True
    ).stdout.split()
    assert owner[:1] == ["alice"], owner  # run as alice, not as root
    waited = [item for item in submissions.values() if item["name"] == "waited"]
    assert [item["status"] for item in waited] == ["DONE"], waited
    assert submissions[1]["status"] == "REJECTED" and "admin" in submissions[1]["report_message"], submissions[1]
