"""The CLI's copy of the server's rules (jobbergate_cli.contract), pinned to the server's own, rule by rule.

The CLI and its agent install without the server, so they keep their own copy of what they must agree on; each
test here fails the day one side changes without the other. (The state and status words are pinned in
submissions/tests/test_choices.py, the forbidden sbatch options in jobbergate/tests/test_hostile_inputs.py.)
"""

from __future__ import annotations

import pytest
from jobbergate_cli import contract

from accounts.oidc import claimed_client_id
from applications import bundle, rendering
from jobbergate import syntax
from jobbergate.choices import FileType
from jobbergate.errors import Invalid
from jobbergate.principal import Principal
from jobbergate.validation import filename_problem
from jobscripts.serializers import JobScriptSerializer
from jobscripts.services import upload_job_script_file
from submissions import views as submission_views
from submissions.services import create_submission
from testkit.factories import make_job_script

NAMES = [
    "job.sh",
    "run script.sh",
    "a#b?c%d.txt",
    "été.txt",
    "",
    ".",
    "..",
    "..hidden",
    "a/b",
    "a\\b",
    "nul\0byte",
    "-rf",
    ".env",
    "x" * 300,
]
SCRIPTS = [
    "#!/bin/bash\necho hi\n",
    "#!/bin/bash\n# a comment\n\n#SBATCH --time=1\nsrun hostname\n",
    "echo no shebang",
    "#!/bin/sh\n# only comments",
    "",
]
PATHS = [
    "jobbergate.yaml",
    "templates/job.sh.j2",
    ".git/config",
    "templates/.hidden.j2",
    "__pycache__/x.cpython-311.pyc",
    "templates/sub/__pycache__/a",
    "lib/module.pyc",
    ".DS_Store",
    "templates/.ipynb_checkpoints/a.j2",
    "templates/dotted.name.j2",
]


def test_the_agents_output_chunks_and_batches_are_within_the_servers_bounds(settings):
    assert contract.OUTPUT_CHUNK_BYTES == settings.OUTPUT_CHUNK_MAX_BYTES
    assert contract.OUTPUT_BATCH_PIECES <= settings.OUTPUT_BATCH_MAX_PIECES
    assert contract.OUTPUT_CHUNK_BYTES <= contract.OUTPUT_BATCH_BYTES <= settings.OUTPUT_BATCH_MAX_BYTES


def test_the_file_roles_are_the_servers():
    assert (contract.ENTRYPOINT, contract.SUPPORT) == (FileType.ENTRYPOINT.value, FileType.SUPPORT.value)


@pytest.mark.django_db
@pytest.mark.parametrize("roles", [[], ["SUPPORT"], ["ENTRYPOINT"], ["ENTRYPOINT", "SUPPORT", "SUPPORT"]])
def test_a_job_script_the_cli_would_submit_is_one_the_server_accepts(alice, roles):
    """One ENTRYPOINT exactly: the CLI's and the agent's check (contract.entrypoints) on the job script as the API
    shows it decides as the server's create_submission does."""
    job_script = make_job_script(alice.email, files=False)
    for index, role in enumerate(roles):
        upload_job_script_file(job_script=job_script, file_type=role, filename=f"file{index}.sh", content=b"echo\n")
    shown = JobScriptSerializer(job_script).data["files"]
    principal = Principal(email=alice.email, permissions=frozenset({"jobbergate:job-scripts:read"}))
    try:
        create_submission(
            principal=principal, owner_email=alice.email, job_script_id=job_script.pk, name="x", client_id="c"
        )
        accepted = True
    except Invalid:
        accepted = False
    assert accepted == (len(contract.entrypoints(shown)) == 1)


@pytest.mark.parametrize("name", NAMES)
def test_a_file_name_the_server_stores_is_written_under_that_very_name(name):
    """A name the server accepts comes back unchanged from the CLI's rule (so the agent places it as stored); a
    name the CLI trims or refuses is one the server refuses too."""
    if filename_problem(name) is None:
        assert contract.local_file_name(name) == name
    if contract.local_file_name(name) != name:
        assert filename_problem(name) is not None


def test_templates_are_told_by_the_servers_jinja2_suffixes():
    assert contract.JINJA_SUFFIXES == syntax.JINJA_SUFFIXES
    for suffix in syntax.JINJA_SUFFIXES:
        assert contract.output_name(f"sub/job.sh{suffix}", {}) == "job.sh"
    assert contract.output_name("job.sh", {}) == "job.sh"


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("params", [[], ["--time=10"], ["--time=10", "--mem=1G"]])
def test_the_sbatch_lines_go_where_the_server_puts_them(script, params):
    assert contract.SBATCH_HEADER == rendering.SBATCH_HEADER
    assert contract.inject_sbatch_params(script, params) == rendering.inject_sbatch_params(script, params)


@pytest.mark.parametrize("path", PATHS)
def test_the_files_an_application_folder_skips_are_the_servers(path):
    assert contract.IGNORED_NAMES == bundle.IGNORED_NAMES
    assert contract.is_ignored(path) == bundle.is_ignored(path)


@pytest.mark.parametrize(
    "claims",
    [{"azp": "cluster-a"}, {"client_id": "cluster-b"}, {"azp": "a", "client_id": "b"}, {"azp": 3}, {"sub": "x"}, {}],
)
def test_an_agent_names_its_cluster_as_the_server_reads_its_token(claims):
    assert contract.token_client_id(claims) == claimed_client_id(claims)


def test_the_agent_names_its_process_in_the_header_the_server_reads():
    assert contract.AGENT_INSTANCE_HEADER == submission_views.AGENT_INSTANCE_HEADER
