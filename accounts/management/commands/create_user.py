"""``manage.py create_user EMAIL [--username NAME] [--dry-run]``: an ordinary user, who may then get API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q


class Command(BaseCommand):
    help = (
        "Create an ordinary user (not staff, not an admin, no password: they sign in with API tokens or OpenID "
        "Connect) named by their e-mail address; a user that exists already is left as it is. "
        "Example: manage.py create_user alice@example.com, then manage.py create_api_token --user alice@example.com "
        "--permissions ..."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's e-mail address: the owner identity their tokens carry.")
        parser.add_argument("--username", default="", help="Default: the e-mail address.")
        parser.add_argument("--dry-run", action="store_true", help="Say what would happen; change nothing.")

    def handle(self, *args, **options):
        user, created = ensure_user(options["email"], username=options["username"], dry_run=options["dry_run"])
        if not created:
            self.stdout.write(f"User {user.username!r} ({user.email}) exists; left as it is.")
        elif options["dry_run"]:
            self.stdout.write(f"Would create the user {user.username!r} ({user.email}).")
        else:
            self.stdout.write(f"Created the user {user.username!r} ({user.email}).")


@transaction.atomic
def ensure_user(email: str, *, username: str = "", dry_run: bool = False):
    """The user with this e-mail address, created (not staff, no usable password) when there is none; returns
    ``(user, created)``. Refuses an e-mail or user name that another account already holds: tokens name their
    owner by e-mail, so two accounts sharing one would share rows."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise CommandError(f"{email!r} is not an e-mail address.") from None
    username = username.strip() or email
    user_model = get_user_model()
    matches = list(user_model.objects.filter(Q(username=username) | Q(email__iexact=email))[:2])
    if len(matches) == 1 and matches[0].username == username and matches[0].email.lower() == email.lower():
        return matches[0], False
    if matches:
        other = matches[0]
        raise CommandError(
            f"The user {other.username!r} ({other.email or 'no e-mail'}) already holds this user name or e-mail."
        )
    user = user_model(username=username, email=email, is_staff=False, is_superuser=False)
    user.set_unusable_password()
    try:
        user.full_clean()
    except ValidationError as error:
        raise CommandError("; ".join(error.messages)) from None
    if not dry_run:
        user.save()
    return user, True
