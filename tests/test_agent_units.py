"""The agent's parts that need no Slurm: settings, user mappers, the job marker and the readers of Slurm's output.

The readers are fed output captured from Slurm 22.05 (the Debian package these machines run) and the shapes later
releases print; tests/test_agent_slurm.py runs the whole agent against a real cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jobbergate_cli.agent.identity import cluster_name, instance_identity
from jobbergate_cli.agent.loop import Agent
from jobbergate_cli.agent.mappers import load_mapper
from jobbergate_cli.agent.settings import AgentSettings, load_agent_settings
from jobbergate_cli.agent.submitting import write_whole
from jobbergate_cli.client import ApiError
from jobbergate_cli.config import ConfigError
from jobbergate_cli.endpoints import job_file_path
from jobbergate_cli.slurm import (
    Account,
    SbatchRejected,
    check_sbatch_arguments,
    clean_environment,
    marker,
    sacct_state,
    scontrol_state,
    squeue_state,
    stamp,
    tagged,
)

from conftest import python_path

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")


@pytest.fixture
def no_agent_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("JOBBERGATE_AGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JOBBERGATE_AGENT_CONFIG", str(tmp_path / "agent.toml"))
    return tmp_path / "agent.toml"


class TestSettings:
    def test_the_upstream_agents_variable_names_work(self, no_agent_environment, monkeypatch):
        monkeypatch.setenv("JOBBERGATE_AGENT_BASE_API_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("JOBBERGATE_AGENT_SLURM_USER_MAPPER", "single-user-mapper")
        monkeypatch.setenv("JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER", "root")
        monkeypatch.setenv("JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS", "3")
        monkeypatch.setenv("JOBBERGATE_AGENT_SBATCH_PATH", "/opt/slurm/bin/sbatch")
        settings = load_agent_settings()
        assert (settings.base_api_url, settings.single_user_submitter) == ("http://127.0.0.1:9", "root")
        assert (settings.interval, settings.sbatch_path) == (3.0, "/opt/slurm/bin/sbatch")

    def test_flags_beat_the_environment_which_beats_the_file(self, no_agent_environment, monkeypatch):
        no_agent_environment.write_text('base_api_url = "http://file"\ncluster_name = "from-file"\n')
        monkeypatch.setenv("JOBBERGATE_AGENT_CLUSTER_NAME", "from-env")
        settings = load_agent_settings(cluster_name=None)
        assert (settings.base_api_url, settings.cluster_name) == ("http://file", "from-env")
        assert load_agent_settings(cluster_name="from-flag").cluster_name == "from-flag"

    @pytest.mark.parametrize(
        "content, fragment",
        [("base_api_url = 'x'\nbogus = 1\n", "unknown settings bogus"), ("base_api_url = [", "agent.toml")],
    )
    def test_a_bad_config_file_is_named(self, no_agent_environment, content, fragment):
        no_agent_environment.write_text(content)
        with pytest.raises(ConfigError, match=fragment):
            load_agent_settings()

    def test_the_api_address_is_required(self, no_agent_environment):
        with pytest.raises(ConfigError, match="JOBBERGATE_AGENT_BASE_API_URL"):
            load_agent_settings()

    def test_the_lowest_uid_a_job_runs_as_is_1000_unless_set(self, no_agent_environment, monkeypatch):
        monkeypatch.setenv("JOBBERGATE_AGENT_BASE_API_URL", "http://x")
        assert load_agent_settings().minimum_uid == 1000
        monkeypatch.setenv("JOBBERGATE_AGENT_MIN_UID", "500")
        assert load_agent_settings().minimum_uid == 500
        for bad in ("-1", "1.5", "nan", "inf"):
            monkeypatch.setenv("JOBBERGATE_AGENT_MIN_UID", bad)
            with pytest.raises(ConfigError, match="MIN_UID must be a whole number"):
                load_agent_settings()

    def test_a_bad_number_is_one_clear_error(self, no_agent_environment, monkeypatch):
        monkeypatch.setenv("JOBBERGATE_AGENT_BASE_API_URL", "http://x")
        monkeypatch.setenv("JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS", "soon")
        with pytest.raises(ConfigError, match="TASK_JOBS_INTERVAL_SECONDS must be a number"):
            load_agent_settings()


class TestCommandLine:
    def run(self, *arguments, **environment):
        env = {
            "PATH": os.environ["PATH"],
            "HOME": "/tmp",
            "JOBBERGATE_AGENT_CONFIG": "/nonexistent",
            **python_path(),
            **environment,
        }
        return subprocess.run([JOBBERGATE, *arguments], env=env, capture_output=True, text=True, timeout=60)

    def test_without_an_address_it_says_so_in_one_line(self):
        result = self.run("agent", "run", "--once")
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "Error: Set the API's address: --base-url or JOBBERGATE_AGENT_BASE_API_URL"
        ]

    def test_an_unknown_mapper_is_a_usage_error(self):
        result = self.run("agent", "run", "--base-url", "http://127.0.0.1:9", "--user-mapper", "nope", "--once")
        assert result.returncode == 2
        assert "Unknown user mapper 'nope'" in result.stderr
        assert "Traceback" not in result.stderr

    def test_no_credentials_is_an_authentication_error(self):
        result = self.run("agent", "run", "--base-url", "http://127.0.0.1:9", "--once")
        assert result.returncode == 3
        assert "No cluster credentials" in result.stderr

    def test_an_unreachable_api_fails_the_cycle_in_one_line(self, agent):
        result = self.run("agent", "run", "--base-url", "http://127.0.0.1:9", "--token", agent.token, "--once")
        assert result.returncode == 1
        failures = [line for line in result.stderr.splitlines() if "WARNING" in line]
        assert len(failures) == 1 and "Cannot reach the Jobbergate API" in failures[0]
        assert agent.token not in result.stderr


class TestMappers:
    def settings(self, **values) -> AgentSettings:
        return AgentSettings(base_api_url="http://x", **values)

    def test_single_user_maps_everyone_to_one_account(self):
        mapper = load_mapper(self.settings(single_user_submitter="root"))
        assert mapper("alice@example.com").name == mapper("bob@example.com").name == "root"

    def test_the_upstream_older_setting_names_the_single_user(self):
        assert load_mapper(self.settings(x_slurm_user_name="root"))("a@b").name == "root"

    def test_email_local_part_must_exist_in_passwd(self):
        mapper = load_mapper(self.settings(slurm_user_mapper="email-local-part-mapper"))
        assert mapper("root@example.com").uid == 0
        with pytest.raises(LookupError, match="no Unix account 'no-such-user-x'"):
            mapper("no-such-user-x@example.com")
        for bad in ("", "-rf@example.com", "../etc@x"):
            with pytest.raises(LookupError):
                mapper(bad)

    def test_a_site_mapper_plugs_in_as_module_and_factory(self, tmp_path, monkeypatch):
        (tmp_path / "site_mapper.py").write_text(
            textwrap.dedent(
                """
                def build(settings):
                    def mapper(email):
                        if email.endswith("@example.com"):
                            return "root"
                        raise LookupError(f"{email} is not from this site")
                    return mapper
                """
            )
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        mapper = load_mapper(self.settings(slurm_user_mapper="site_mapper:build"))
        assert mapper("x@example.com") == Account.named("root")
        with pytest.raises(LookupError, match="not from this site"):
            mapper("x@elsewhere.org")

    def test_an_unknown_mapper_lists_the_choices(self):
        with pytest.raises(ValueError, match="single-user-mapper"):
            load_mapper(self.settings(slurm_user_mapper="ldap-i-wish"))


def an_agent(mapper, **settings) -> Agent:
    from jobbergate_cli.slurm import Slurm

    return Agent(
        settings=AgentSettings(base_api_url="http://x", **settings),
        client=RecordingApi(),
        slurm=Slurm(),
        mapper=mapper,
        cluster="cluster-a",
    )


class TestSystemAccounts:
    """Whatever the mapper says, no job runs as root or another system account (uid below JOBBERGATE_AGENT_MIN_UID)."""

    @pytest.mark.parametrize(
        "mapper_settings",
        [
            {"slurm_user_mapper": "email-local-part-mapper"},  # root@x is root, daemon@x is daemon
            {"slurm_user_mapper": "single-user-mapper"},  # the agent's own account: root under sudo
            {"slurm_user_mapper": "single-user-mapper", "single_user_submitter": "daemon"},
        ],
        ids=["email-local-part", "single-user-falls-back-to-root", "single-user-named-daemon"],
    )
    @pytest.mark.parametrize("email", ["root@example.com", "daemon@example.com"])
    def test_an_owner_mapped_to_a_system_account_is_refused(self, mapper_settings, email):
        settings = AgentSettings(base_api_url="http://x", **mapper_settings)
        if os.geteuid() != 0 and "single_user_submitter" not in mapper_settings:
            pytest.skip("the agent's own account is root only when the tests run as root")
        agent = an_agent(load_mapper(settings))
        with pytest.raises(LookupError, match=r"maps to a system account on this cluster \((root|daemon), uid [01];"):
            agent.account_of({"owner_email": email})

    def test_a_user_account_is_mapped_and_the_minimum_is_a_setting(self):
        user = Account("someone", 4321, 4321, "/home/someone")
        assert an_agent(lambda email: user).account_of({"owner_email": "a@b"}) == user
        with pytest.raises(LookupError, match="user accounts start at uid 5000"):
            an_agent(lambda email: user, min_uid=5000.0).account_of({"owner_email": "a@b"})
        root = Account.named("root")
        assert an_agent(lambda email: root, min_uid=0.0).account_of({"owner_email": "a@b"}) == root


class TestClusterName:
    def test_taken_from_the_tokens_client_id_and_checked(self, agent):
        assert cluster_name(AgentSettings(base_api_url="x", token=agent.token)) == "cluster-a"
        with pytest.raises(Exception, match="is cluster 'cluster-a', not 'cluster-b'"):
            cluster_name(AgentSettings(base_api_url="x", token=agent.token, cluster_name="cluster-b"))

    def test_client_credentials_name_the_cluster_by_client_id(self):
        settings = AgentSettings(base_api_url="x", oidc_client_id="cluster-z", oidc_client_secret="s")
        assert cluster_name(settings) == "cluster-z"


class TestMarker:
    def test_round_trip_through_a_comment(self):
        created = "2026-12-01T10:00:00.123456Z"
        tag = marker("cluster-a", 12, created)
        assert tag == f"jobbergate:cluster-a:12:{stamp(created)}"
        state = sacct_state(f"7|COMPLETED|0:0|None|0|root|{tag}")
        assert tagged([state]) == {("cluster-a", 12, stamp(created)): [state]}

    def test_only_a_comment_that_is_exactly_one_marker_counts(self):
        forged = " ".join(f"jobbergate:cluster-a:{n}:1700000000" for n in range(300))
        states = [
            sacct_state(f"7|PENDING|0:0|None|1001|bob|{forged}"),
            sacct_state("8|PENDING|0:0|None|1001|bob|my note jobbergate:cluster-a:12:1700000000"),
            sacct_state("9|PENDING|0:0|None|1001|bob|jobbergate:cluster-a:12:1700000000 and more"),
            sacct_state("10|PENDING|0:0|None|1001|bob|jobbergate:cluster-a:12:1700000000\n"),
        ]
        assert tagged(states) == {}

    def test_every_job_carrying_the_same_marker_is_kept_for_the_owner_check(self):
        real = sacct_state("7|PENDING|0:0|None|1000|alice|jobbergate:cluster-a:12:1700000000")
        copy = sacct_state("8|PENDING|0:0|None|1001|bob|jobbergate:cluster-a:12:1700000000")
        assert tagged([real, copy]) == {("cluster-a", 12, 1700000000): [real, copy]}


class TestSbatchArguments:
    @pytest.mark.parametrize("argument", ["/etc/shadow", "--uid=0", "--gid=0", "--wrap=id", "--x\n#SBATCH", "", "--"])
    def test_what_is_not_one_harmless_option_is_refused(self, argument):
        with pytest.raises(SbatchRejected):
            check_sbatch_arguments([argument])

    @pytest.mark.parametrize(
        "argument",
        ["--ui=0", "--u=0", "--gi=0", "--g=0", "--wra=id", "--wr=id", "--w", "--wrap", "--uid"],
    )
    def test_an_abbreviation_sbatch_would_read_as_a_forbidden_option_is_refused(self, argument):
        with pytest.raises(SbatchRejected, match="is not allowed in the submission's sbatch arguments"):
            check_sbatch_arguments(["--time=5", argument])

    @pytest.mark.parametrize("argument", ["--comment=jobbergate:cluster-a:1:2", "--comment=mine", "--comm=x", "--co"])
    def test_the_comment_is_the_agents_so_a_user_may_not_set_it(self, argument):
        with pytest.raises(SbatchRejected, match=r"\(--comment\) is not allowed"):
            check_sbatch_arguments([argument])

    def test_options_pass_as_they_are(self):
        check_sbatch_arguments(
            ["--time=5", "-N", "--job-name=$(rm -rf ~)", "--gres=gpu:1", "--gpus=1", "--wckey=x", "--constraint=a"]
        )


def test_a_job_files_name_is_quoted_whole_in_its_api_path():
    names = {"%00": "%2500", "%2e%2e": "%252e%252e", "%5C": "%255C", "a?b#c": "a%3Fb%23c", "a b": "a%20b"}
    for name, quoted in names.items():
        assert job_file_path(3, name) == f"job-scripts/3/upload/{quoted}"


class TestReaders:
    def test_squeue_2205_exit_code_is_a_wait_status(self):
        state = squeue_state(
            {"job_id": 4, "job_state": "FAILED", "exit_code": 768, "state_reason": "NonZeroExitCode", "comment": "c"}
        )
        assert (state.state, state.exit_code, state.signal, state.finished) == ("FAILED", 3, None, True)

    def test_squeue_later_releases_give_lists_and_objects(self):
        state = squeue_state(
            {
                "job_id": 5,
                "job_state": ["RUNNING"],
                "exit_code": {"status": ["SUCCESS"], "return_code": {"set": True, "number": 0}, "signal": {}},
            }
        )
        assert (state.state, state.exit_code, state.finished) == ("RUNNING", 0, False)

    def test_sacct_cancelled_by_and_signals(self):
        state = sacct_state("9|CANCELLED by 0|0:15|None|0|root|")
        assert (state.state, state.exit_code, state.signal, state.comment) == ("CANCELLED", 0, 15, None)
        assert "ended CANCELLED by signal 15" in state.describe()
        assert sacct_state("9.batch|COMPLETED|0:0") is None

    def test_scontrol_fallback(self):
        text = "JobId=3 JobName=x UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) ExitCode=0:15"
        state = scontrol_state(text)
        assert (state.job_id, state.state, state.reason, state.source) == (3, "TIMEOUT", "TimeLimit", "scontrol")

    def test_each_reader_keeps_whose_job_it_is_and_info_leaves_it_out(self):
        root, other = Account.named("root"), Account("someone", 4321, 4321, "/home/someone")
        states = [
            squeue_state({"job_id": 4, "job_state": "PENDING", "user_id": 4321, "user_name": "someone"}),
            sacct_state("4|PENDING|0:0|None|4321|someone|a|b"),
            scontrol_state("JobId=4 JobName=x UserId=someone(4321) GroupId=someone(4321) JobState=PENDING"),
        ]
        for state in states:
            assert (state.owned_by(other), state.owned_by(root)) == (True, False)
            assert "someone" not in state.info() and "4321" not in state.info()
        assert states[1].comment == "a|b"
        assert squeue_state({"job_id": 4, "job_state": "PENDING"}).owned_by(root) is None

    def test_a_failed_job_is_described_with_its_exit_code(self):
        assert (
            sacct_state("8|FAILED|3:0|NonZeroExitCode|0|root|").describe()
            == "Slurm job 8 ended FAILED with exit code 3"
        )


def test_the_job_sees_none_of_the_agents_environment(monkeypatch):
    monkeypatch.setenv("JOBBERGATE_AGENT_TOKEN", "secret-token")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm-test/slurm.conf")
    environment = clean_environment(Account.named("root"))
    assert "JOBBERGATE_AGENT_TOKEN" not in environment
    assert environment["SLURM_CONF"] == "/etc/slurm-test/slurm.conf"
    assert (environment["USER"], environment["HOME"]) == ("root", "/root")


class RecordingApi:
    """Stands in for an upstream Jobbergate 5 server, which cannot run here: it has no submitted-many (404) and
    takes single submitted reports."""

    def __init__(self):
        self.calls = []

    def json(self, method, path, **kwargs):
        self.calls.append((method, path, kwargs.get("json")))
        if path.endswith("submitted-many"):
            raise ApiError("Not Found (HTTP 404)", status=404)
        return None


def test_against_a_server_without_batch_reports_the_agent_reports_one_by_one():
    from jobbergate_cli.agent.loop import Agent
    from jobbergate_cli.slurm import Slurm

    api = RecordingApi()
    agent = Agent(
        settings=AgentSettings(base_api_url="http://x"),
        client=api,
        slurm=Slurm(),
        mapper=lambda email: Account.current(),
        cluster="cluster-a",
    )
    agent.report_many([(1, 101), (2, 102)])
    agent.report_many([(3, 103)])
    paths = [path for _, path, _ in api.calls]
    assert paths == [
        "job-submissions/agent/submitted-many",
        "job-submissions/agent/submitted",
        "job-submissions/agent/submitted",
        "job-submissions/agent/submitted",
    ]
    assert [body["slurm_job_id"] for _, path, body in api.calls[1:]] == [101, 102, 103]
    assert agent.unreported == {}


class TestInstanceIdentity:
    """The name an agent's claims carry: the same across restarts on one host, never shared by two live agents."""

    def test_a_restarted_agent_keeps_its_name_and_two_live_ones_differ(self, tmp_path):
        first, held = instance_identity(tmp_path / "cache")
        beside, none = instance_identity(tmp_path / "cache")  # started while the first still runs
        assert beside != first and none is None
        assert (tmp_path / "cache" / "agent-instance").stat().st_mode & 0o777 == 0o600
        held.close()  # the first agent ends (a crash or a kill releases the lock the same way)
        again, handle = instance_identity(tmp_path / "cache")
        assert again == first
        handle.close()

    def test_a_damaged_identity_file_is_replaced(self, tmp_path):
        (tmp_path / "agent-instance").write_text("not a name\n")
        name, handle = instance_identity(tmp_path)
        assert len(name) == 32 and (tmp_path / "agent-instance").read_text() == name
        handle.close()


def test_job_files_are_written_whole_and_replace_a_link_without_following_it(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("keep")
    (tmp_path / "job.sh").symlink_to(secret)
    write_whole(tmp_path / "job.sh", b"#!/bin/bash\ntrue\n")
    assert secret.read_text() == "keep"
    assert not (tmp_path / "job.sh").is_symlink() and (tmp_path / "job.sh").read_bytes() == b"#!/bin/bash\ntrue\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["job.sh", "secret"]  # no temporary file left


def test_a_job_file_replaced_whole_keeps_its_mode_and_long_names_fit(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    write_whole(script, b"new")
    assert script.read_bytes() == b"new" and script.stat().st_mode & 0o777 == 0o750
    long_name = tmp_path / ("x" * 250)  # a name near the 255-byte limit still has room for its temporary twin
    write_whole(long_name, b"ok")
    assert long_name.read_bytes() == b"ok"
