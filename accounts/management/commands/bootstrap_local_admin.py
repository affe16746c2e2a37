"""Create the embedded default's first admin user and API token, once; print them once; keep them in var/ (0600)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.tokens import issue_api_token
from jobbergate.choices import Permission


class Command(BaseCommand):
    help = (
        "Create an admin user with a generated password and an admin API token when none exists yet, print both "
        "once and store them in var/local-admin.json with mode 0600. Example: manage.py bootstrap_local_admin "
        "--email admin@example.com"
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@jobbergate.local")
        parser.add_argument(
            "--credentials-file", default=str(Path(settings.VAR_DIR) / "local-admin.json"), help="Where to keep them."
        )

    def handle(self, *args, **options):
        path = Path(options["credentials_file"])
        user_model = get_user_model()
        if user_model.objects.filter(username=options["username"]).exists():
            self.stdout.write(f"Admin user {options['username']!r} exists; its credentials are in {path}.")
            return
        password = secrets.token_urlsafe(18)
        with transaction.atomic():
            user = user_model.objects.create_superuser(options["username"], options["email"], password)
            issued = issue_api_token(user=user, permissions=[Permission.ADMIN.value], name="local admin")
        write_private(path, {"username": user.username, "password": password, "api_token": issued.token})
        self.stdout.write(f"Created the local admin (shown once; also kept in {path}, mode 0600):")
        self.stdout.write(f"  username:  {user.username}")
        self.stdout.write(f"  password:  {password}")
        self.stdout.write(f"  API token: {issued.token}")


def write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)
