"""Admin for server-issued API tokens: create one (shown once), see what it carries, revoke it."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone

from accounts.models import ApiToken
from accounts.tokens import revoke_api_tokens, sign_api_token
from jobbergate.choices import Permission


class ApiTokenForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=Permission.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    lifetime_days = forms.IntegerField(
        min_value=1, initial=settings.TOKEN_DEFAULT_LIFETIME_DAYS, help_text="Days until the token expires."
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "permissions", "client_id")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("jti", "name", "user", "client_id", "created_at", "expires_at", "revoked_at", "active")
    list_filter = ("revoked_at", "expires_at", "created_at")
    search_fields = ("jti", "name", "user__username", "user__email", "client_id")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name", "permissions", "client_id", "lifetime_days")
        return ("jti", "user", "name", "permissions", "client_id", "created_at", "expires_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("jti", "user", "permissions", "client_id", "created_at", "expires_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.expires_at = timezone.now() + timedelta(days=form.cleaned_data["lifetime_days"])
        super().save_model(request, obj, form, change)
        if not change:
            token = sign_api_token(obj)
            self.message_user(
                request,
                f"Copy this token now, it is not shown again: {token}",
                messages.WARNING,
            )

    @admin.display(boolean=True, description="Active")
    def active(self, token: ApiToken) -> bool:
        return token.is_active

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = revoke_api_tokens(queryset)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
