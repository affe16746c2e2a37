"""Settings of the cluster agent: flags > environment > config file > defaults.

Environment names are the upstream agent's, ``JOBBERGATE_AGENT_<NAME>`` (``BASE_API_URL``, ``OIDC_DOMAIN``,
``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, ``TASK_JOBS_INTERVAL_SECONDS``, ``SBATCH_PATH``, ``SCONTROL_PATH``,
``DEFAULT_SLURM_WORK_DIR``, ``SLURM_USER_MAPPER``, ``SINGLE_USER_SUBMITTER``, ``X_SLURM_USER_NAME``,
``CACHE_DIR``...), so a site's existing set-up carries over; ``MIN_UID`` (the lowest uid a job may run as) is ours.
The config file is ``/etc/jobbergate/agent.toml``, or the file named by ``JOBBERGATE_AGENT_CONFIG``, with the same
names in lower case and no prefix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jobbergate_cli.config import ConfigError, Settings, layered

PREFIX = "JOBBERGATE_AGENT_"


def _default_cache() -> str:
    if os.geteuid() == 0:
        return "/var/cache/jobbergate-agent"
    return str(Path.home() / ".cache" / "jobbergate-agent")


@dataclass
class AgentSettings:
    base_api_url: str | None = None
    cluster_name: str | None = None  # checked against the token's client id; taken from it when not given
    token: str | None = None  # a server-issued cluster token (manage.py create_api_token --cluster NAME)
    oidc_domain: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_use_https: bool = True
    oidc_audience: str | None = None
    cache_dir: str = ""
    task_jobs_interval_seconds: float = 2.0
    submit_workers: float = 4.0  # sbatch calls (and their reports) at once
    page_size: float = 100.0
    request_timeout: float = 15.0
    slurm_timeout: float = 60.0
    sbatch_path: str = "sbatch"
    squeue_path: str = "squeue"
    sacct_path: str = "sacct"
    scontrol_path: str = "scontrol"
    scancel_path: str = "scancel"
    slurm_user_mapper: str = "single-user-mapper"
    single_user_submitter: str | None = None
    x_slurm_user_name: str | None = None  # the upstream agent's older name for the single submitter
    default_slurm_work_dir: str | None = None  # where jobs run when a submission names no folder (else: home)
    sacct_lookback_seconds: float = 600.0  # how far before a submission's creation to look for its job
    min_uid: float = 1000.0  # the lowest uid a job may run as: below are system accounts (root, daemon...)

    def __post_init__(self):
        if not self.cache_dir:
            self.cache_dir = _default_cache()

    @property
    def minimum_uid(self) -> int:
        return int(self.min_uid)

    @property
    def interval(self) -> float:
        return max(0.2, float(self.task_jobs_interval_seconds))

    def client_settings(self) -> Settings:
        """The CLI's settings for the token functions (cache under ``cache_dir``)."""
        return Settings(
            base_api_url=self.base_api_url or "",
            jobbergate_token=self.token,
            jobbergate_cache_dir=self.cache_dir,
            oidc_domain=self.oidc_domain,
            oidc_client_id=self.oidc_client_id,
            oidc_client_secret=self.oidc_client_secret,
            oidc_use_https=self.oidc_use_https,
            oidc_audience=self.oidc_audience,
            requests_timeout=self.request_timeout,
        )


def config_file() -> Path:
    return Path(os.environ.get(f"{PREFIX}CONFIG") or "/etc/jobbergate/agent.toml")


def load_agent_settings(**flags) -> AgentSettings:
    """Settings from the config file, then the environment, then the flags given (None means not given)."""
    settings = layered(AgentSettings, config_file(), prefix=PREFIX, flags=flags, strict=True)
    if not settings.cache_dir:
        settings.cache_dir = _default_cache()
    if not settings.base_api_url:
        raise ConfigError(f"Set the API's address: --base-url or {PREFIX}BASE_API_URL")
    if not (0 <= settings.min_uid < 2**32 and settings.min_uid == int(settings.min_uid)):
        raise ConfigError(f"{PREFIX}MIN_UID must be a whole number of 0 or more, not {settings.min_uid!r}")
    return settings
