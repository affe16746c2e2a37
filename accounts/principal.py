"""How a user account becomes a principal: the permissions an account holds, and what a person's token keeps of
them. The principal itself lives in jobbergate.principal, next to the permission words."""

from __future__ import annotations

from jobbergate.choices import USER_PERMISSIONS, Permission
from jobbergate.principal import PRIVILEGED, Principal


def account_permissions(*, is_superuser: bool, group_names) -> frozenset[str]:
    """What a user account holds by itself: superusers are ``jobbergate:admin``; other users hold the permissions
    named by their groups, so an operator grants ``jobbergate:maintainer`` by adding a user to a group of that name."""
    permissions = {name for name in group_names if name.startswith("jobbergate:")}
    if is_superuser:
        permissions.add(Permission.ADMIN.value)
    return frozenset(permissions)


def within_account(carried, account: frozenset[str]) -> frozenset[str]:
    """What a person's server-issued token may do: the permissions it carries, less the privileged ones (admin,
    maintainer) its account no longer holds. The others are the token's own grant: there is no account right
    behind them to lose."""
    holder = Principal(email=None, permissions=account)
    return frozenset(permission for permission in carried if permission not in PRIVILEGED or holder.has_any(permission))


def principal_for_user(user) -> Principal:
    """The principal of a user signed in with a Django session (admin, browsable API): what the account holds."""
    permissions = account_permissions(
        is_superuser=user.is_superuser, group_names=[group.name for group in user.groups.all()]
    )
    return Principal(email=user.email or None, permissions=permissions)


# The session key holding what the OpenID provider's access token granted when the user signed in through it.
SESSION_PERMISSIONS = "jobbergate_permissions"


def principal_for_session(user, session) -> Principal:
    """Who is calling with a browser session (the portal, the admin, the browsable API): one rule for all three.

    What the account holds (``principal_for_user``), plus what the person's sign-in granted: the provider's
    permissions when they signed in through OpenID Connect (kept in the session at sign-in, so they follow the
    provider as a bearer token does), else an ordinary user's (``USER_PERMISSIONS``), as a server-issued token
    made for them without ``--permissions`` carries.
    """
    account = principal_for_user(user)
    granted = session.get(SESSION_PERMISSIONS) if session is not None else None
    extra = frozenset(granted) if isinstance(granted, list) else frozenset(USER_PERMISSIONS)
    return Principal(email=account.email, permissions=account.permissions | extra)
