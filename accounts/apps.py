from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Identity: principals, server-issued API tokens and the authentication classes of the API."""

    name = "accounts"
    verbose_name = "Accounts and API tokens"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 - registers the OpenAPI authentication extensions
