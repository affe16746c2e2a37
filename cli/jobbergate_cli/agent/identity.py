"""Who an agent is: the cluster it serves (``cluster_name``) and the name this process gives its claims
(``instance_identity``), which the server uses to hand each pending submission to one agent at a time."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import IO

from jobbergate_cli import contract
from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.tokens import SignInError, claims

log = logging.getLogger("jobbergate.agent")


def cluster_name(settings: AgentSettings) -> str:
    """The cluster an agent serves: its token's client id (checked against the setting when both are given)."""
    named = settings.cluster_name
    client_id = None
    if settings.token:
        found = claims(settings.token)
        client_id = contract.token_client_id(found)
    elif settings.oidc_client_id:
        client_id = settings.oidc_client_id
    if named and client_id and named != client_id:
        raise SignInError(f"The token is cluster {client_id!r}, not {named!r}: use that cluster's credentials")
    if not (named or client_id):
        raise SignInError(
            "No cluster credentials: set JOBBERGATE_AGENT_TOKEN (manage.py create_api_token --cluster NAME) "
            "or JOBBERGATE_AGENT_OIDC_CLIENT_ID and JOBBERGATE_AGENT_OIDC_CLIENT_SECRET"
        )
    return str(named or client_id)


def instance_identity(cache_dir: Path) -> tuple[str, IO | None]:
    """The name this agent process gives its claims: kept in ``CACHE_DIR/agent-instance``, so an agent restarted on
    the same host (after a crash, a kill, an upgrade) takes its predecessor's claims back at once instead of waiting
    for them to expire; its marker check then finds what the predecessor had already submitted.

    The file is locked (``flock``) while a process uses it: a second agent started beside a running one with the
    same cache folder cannot take the name, and gets a new one of its own for its life, so two live agents never
    share claims. Returns the name and the open, locked file, which the agent keeps open for its whole life (the
    lock is what says the name is taken)."""
    import fcntl

    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(os.open(cache_dir / "agent-instance", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+")
    except OSError as error:
        log.warning(
            "no lasting agent identity in %s (%s): claims of an earlier run wait for their expiry",
            cache_dir,
            error.strerror,
        )
        return uuid.uuid4().hex, None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        log.info("another agent runs with the cache folder %s: this one has an identity of its own", cache_dir)
        return uuid.uuid4().hex, None
    name = handle.read().strip()
    if not (len(name) == 32 and all(character in "0123456789abcdef" for character in name)):
        name = uuid.uuid4().hex
        handle.seek(0)
        handle.truncate()
        handle.write(name)
        handle.flush()
    return name, handle
