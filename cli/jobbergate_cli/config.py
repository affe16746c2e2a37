"""Settings of the command: flags > environment > config file > defaults.

The upstream CLI's environment variable names work as they are (``BASE_API_URL``, ``OIDC_DOMAIN``,
``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, ``JOBBERGATE_CACHE_DIR``, ``DEFAULT_CLUSTER_NAME``, ``SBATCH_PATH``);
``JOBBERGATE_TOKEN`` supplies a server-issued token. The config file is ``$XDG_CONFIG_HOME/jobbergate/config.toml``
(``~/.config/jobbergate/config.toml``), or the file named by ``JOBBERGATE_CONFIG``, with the same names in lower case.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    base_api_url: str = "http://127.0.0.1:8000"
    jobbergate_token: str | None = None
    jobbergate_cache_dir: str = str(Path.home() / ".local" / "share" / "jobbergate3")
    oidc_domain: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_use_https: bool = True
    oidc_audience: str | None = None
    default_cluster_name: str | None = None
    sbatch_path: str | None = None
    requests_timeout: float = 15.0

    @property
    def token_dir(self) -> Path:
        return Path(self.jobbergate_cache_dir).expanduser() / "token"


def config_file() -> Path:
    named = os.environ.get("JOBBERGATE_CONFIG")
    if named:
        return Path(named)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "jobbergate" / "config.toml"


def coerce_setting(name: str, value, default):
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name.upper()} must be true or false, not {value!r}")
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name.upper()} must be a number, not {value!r}") from None
    return None if value in ("", None) else str(value)


def layered(cls, path: Path, *, prefix: str = "", flags: dict, strict: bool = False):
    """An instance of the settings dataclass ``cls`` from the TOML file at ``path``, then the environment
    (``prefix`` + upper-case names), then the flags given (None means not given); ``strict`` refuses unknown keys
    in the file."""
    values: dict = {}
    names = {item.name for item in fields(cls)}
    if path.is_file():
        try:
            loaded = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{path}: {error}") from None
        unknown = sorted({key.lower() for key in loaded} - names)
        if strict and unknown:
            raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
        values.update({key.lower(): value for key, value in loaded.items()})
    for name in names:
        if prefix + name.upper() in os.environ:
            values[name] = os.environ[prefix + name.upper()]
    values.update({key: value for key, value in flags.items() if value is not None})
    settings = cls()
    for item in fields(cls):
        if item.name in values:
            default = getattr(cls, item.name, None)
            setattr(settings, item.name, coerce_setting(prefix + item.name, values[item.name], default))
    return settings


def load_settings(**flags) -> Settings:
    """Settings from the config file, then the environment, then the flags given (None means not given)."""
    return layered(Settings, config_file(), flags=flags)
