"""Who a submission runs as: from its owner's e-mail to a Unix account on this cluster.

Chosen with ``JOBBERGATE_AGENT_SLURM_USER_MAPPER`` (the upstream agent's setting):

- ``single-user-mapper``: every job runs as ``JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER`` (the agent's own account
  when unset);
- ``email-local-part-mapper``: ``alice@example.com`` runs as ``alice``, which must exist in the passwd database
  (LDAP through NSS included);
- any other name: an entry point in the group ``jobbergate_agent.user_mappers`` (a site's own package), or
  ``package.module:factory``. The factory takes the agent's settings and returns a callable from e-mail to account
  name; raising LookupError rejects the submission with that message.

Whatever the mapper says, the agent runs no job as a system account (a uid below ``JOBBERGATE_AGENT_MIN_UID``, root
included): ``map_owner`` (base.py) rejects such a submission.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from jobbergate_cli.agent.settings import AgentSettings
from jobbergate_cli.slurm import Account

ENTRY_POINT_GROUP = "jobbergate_agent.user_mappers"
Mapper = Callable[[str], Account]


def single_user(settings: AgentSettings) -> Mapper:
    name = settings.single_user_submitter or settings.x_slurm_user_name
    account = Account.named(name) if name else Account.current()
    return lambda email: account


def email_local_part(settings: AgentSettings) -> Mapper:
    def mapper(email: str) -> Account:
        local = (email or "").split("@", 1)[0]
        if not local or local.startswith("-") or "/" in local:
            raise LookupError(f"The e-mail {email!r} names no Unix account.")
        try:
            return Account.named(local)
        except LookupError:
            raise LookupError(f"There is no Unix account {local!r} for {email} on this cluster.") from None

    return mapper


BUILT_IN = {
    "single-user-mapper": single_user,
    "email-local-part-mapper": email_local_part,
    "email-mapper": email_local_part,
}


def load_mapper(settings: AgentSettings) -> Mapper:
    """The mapper the settings name; ValueError with the choices when there is none by that name."""
    name = settings.slurm_user_mapper or "single-user-mapper"
    if name in BUILT_IN:
        return BUILT_IN[name](settings)
    factory = None
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            factory = entry.load()
    if factory is None and ":" in name:
        module, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"Cannot load the user mapper {name}: {error}") from None
    if factory is None:
        choices = ", ".join(sorted([*BUILT_IN, *(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))]))
        raise ValueError(f"Unknown user mapper {name!r}; choose one of: {choices}, or module:factory")
    site_mapper = factory(settings)

    def mapper(email: str) -> Account:
        found = site_mapper(email)
        return found if isinstance(found, Account) else Account.named(str(found))

    return mapper
