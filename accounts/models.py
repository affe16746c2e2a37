"""Server-issued API tokens. The token itself is never stored: only its ``jti``, so it can be revoked."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.principal import account_permissions, principal_for_user, within_account
from jobbergate.choices import Permission
from jobbergate.principal import PRIVILEGED


def _new_jti() -> str:
    return uuid.uuid4().hex


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, now=None):
        """Tokens that are neither revoked nor expired (at ``now``, by default the present)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ApiToken(models.Model):
    """A JWT the server signed for a user or a cluster agent; revoking it makes the server refuse it."""

    jti = models.CharField("token id", max_length=64, unique=True, default=_new_jti, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=255, blank=True, default="", help_text="What the token is for.")
    permissions = models.JSONField(default=list, blank=True, help_text="Permission strings carried by the token.")
    client_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Cluster client id (the azp claim) for an agent token."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name or 'token'} for {self.user} ({self.jti[:8]})"

    def clean(self) -> None:
        unknown = sorted(set(self.permissions or []) - set(Permission.values))
        if unknown:
            raise ValidationError({"permissions": f"Unknown permission(s): {', '.join(unknown)}"})
        if self.user_id and not self.client_id:
            held = principal_for_user(self.user).permissions
            lacking = sorted(set(self.permissions or []) - within_account(self.permissions or [], held))
            if lacking:
                raise ValidationError(
                    {"permissions": f"{self.user} does not hold {', '.join(lacking)}: a token cannot give more"}
                )

    def effective_permissions(self, carried) -> frozenset[str]:
        """What this token may do: a person's, what it carries less the privileged permissions its user no longer
        holds (their groups are looked up only when the token carries such a permission); a cluster's, what it
        carries (its account holds no rights)."""
        if self.client_id or PRIVILEGED.isdisjoint(carried):
            return frozenset(carried)
        groups = self.user.groups.filter(name__in=PRIVILEGED).values_list("name", flat=True)
        return within_account(carried, account_permissions(is_superuser=self.user.is_superuser, group_names=groups))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
