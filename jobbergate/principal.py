"""Who is calling: the one identity object every permission check reads.

Authentication classes (server-issued tokens, OIDC bearer tokens, Django sessions) each turn their credential
into a ``Principal``; views and querysets look only at it, never at how the caller signed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobbergate.choices import Permission

PRIVILEGED = frozenset({Permission.ADMIN.value, Permission.MAINTAINER.value})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an owner e-mail, a permission set and, for agents, a cluster client id."""

    email: str | None
    permissions: frozenset[str] = field(default_factory=frozenset)
    client_id: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return Permission.ADMIN.value in self.permissions

    @property
    def is_privileged(self) -> bool:
        """Admins and maintainers see and change every row."""
        return not PRIVILEGED.isdisjoint(self.permissions)

    @property
    def cluster(self) -> str | None:
        """The cluster a machine token (an agent's: a client id and no e-mail) stands for; None for people."""
        return self.client_id if self.client_id and not self.email else None

    def may(self, resource: str, verb: str) -> bool:
        """The contract's permission ``jobbergate:<resource>:<verb>`` (e.g. ``job-scripts``, ``create``), which
        maintainers and admins hold for every resource."""
        return self.has_any(f"jobbergate:{resource}:{verb}", Permission.MAINTAINER.value)

    def has_any(self, *permissions: str) -> bool:
        """True when the principal holds one of ``permissions``; admins hold everything."""
        return self.is_admin or any(permission in self.permissions for permission in permissions)
