"""What the portal keeps of its own: named answer presets per user and application.

The user's *last* answers need no table: they are the parameters of their newest job script of that application
(``portal.services.last_answers``).
"""

from __future__ import annotations

from django.db import models

from applications.models import JobScriptTemplate, validate_config_json, validate_json_object
from jobbergate.models import validate_visible_text
from jobbergate.principal import Principal

# How many presets one user keeps for one application: a list a person can read, and a bound on what one user
# stores.
PRESETS_PER_APPLICATION = 50


class PresetQuerySet(models.QuerySet):
    def visible_to(self, principal: Principal) -> PresetQuerySet:
        """A person's presets are theirs alone (maintainers and admins included: they are not shared work)."""
        return self.filter(owner_email=principal.email) if principal.email else self.none()


class Preset(models.Model):
    """A named set of answers to one application's questions, kept by one user."""

    owner_email = models.CharField(max_length=255, db_index=True)
    application = models.ForeignKey(JobScriptTemplate, on_delete=models.CASCADE, related_name="presets")
    name = models.CharField(max_length=100, validators=[validate_visible_text])
    answers = models.JSONField(default=dict, validators=[validate_config_json, validate_json_object])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PresetQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner_email", "application", "name"], name="preset_name_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.application_id}, {self.owner_email})"
