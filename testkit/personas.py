"""Named callers, so permission tests read as sentences: alice owns, bob is another user, carol is the admin."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.test import APIClient

from accounts.tokens import issue_api_token
from jobbergate.choices import Permission


@dataclass
class Persona:
    """A signed-in caller: its e-mail, its server-issued token and an API client that sends it."""

    email: str
    token: str
    client: APIClient


def make_persona(email: str, permissions: list[str], *, client_id: str = "") -> Persona:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    if not client_id:
        grant_account_rights(user, permissions)
    token = issue_api_token(user=user, permissions=permissions, client_id=client_id).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return Persona(email=email, token=token, client=client)


def grant_account_rights(user, permissions: list[str]) -> None:
    """Give the account the privileged rights its token will carry (a person's token acts only with those the
    account holds): a superuser for ``jobbergate:admin``, the maintainers group for ``jobbergate:maintainer``."""
    from accounts.authentication import maintainer_group

    if Permission.ADMIN.value in permissions:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    if Permission.MAINTAINER.value in permissions:
        user.groups.add(maintainer_group())
