"""``manage.py create_api_token --user NAME --permissions P1,P2 [--expires-in DAYS]``: prints the token last.

Without ``--permissions``, ``--user`` issues what an ordinary user does (``USER_PERMISSIONS``: never admin or
maintainer) and ``--cluster NAME`` what an agent needs (``AGENT_PERMISSIONS``).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.tokens import issue_api_token
from jobbergate.choices import AGENT_PERMISSIONS, USER_PERMISSIONS, Permission


class Command(BaseCommand):
    help = (
        "Create a server-issued API token (a JWT) for a user or a cluster agent and print it on the last line. "
        "Example: manage.py create_api_token --user alice@example.com "
        "--permissions jobbergate:job-scripts:read,jobbergate:job-scripts:create --expires-in 30; "
        "manage.py create_api_token --cluster my-cluster (an agent's token)"
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Username or e-mail of an existing user (not needed with --cluster).")
        parser.add_argument(
            "--permissions",
            default=None,
            help=f"Comma-separated permission strings, e.g. {Permission.ADMIN.value}. Default for --user: what an "
            "ordinary user does (every job-templates, job-scripts and job-submissions permission); for --cluster, "
            f"what an agent needs ({','.join(AGENT_PERMISSIONS)}).",
        )
        parser.add_argument("--expires-in", type=int, default=None, metavar="DAYS", help="Lifetime in days.")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument("--cluster", default="", help="Cluster client id (azp claim) for an agent token.")

    def handle(self, *args, **options):
        if options["user"]:
            user = find_user(options["user"], need_email=not options["cluster"])
        elif options["cluster"]:
            user = cluster_account(options["cluster"])
        else:
            raise CommandError("Give --user NAME, or --cluster NAME for an agent's token.")
        if options["permissions"] is None:
            permissions = list(AGENT_PERMISSIONS if options["cluster"] else USER_PERMISSIONS)
        else:
            permissions = parse_permissions(options["permissions"])
        days = options["expires_in"]
        if days is not None and days < 1:
            raise CommandError("--expires-in must be at least 1 day.")
        try:
            issued = issue_api_token(
                user=user,
                permissions=permissions,
                lifetime=timedelta(days=days) if days else None,
                name=options["name"],
                client_id=options["cluster"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(
            f"Token {issued.row.jti} for {user.username}, expires {issued.row.expires_at:%Y-%m-%d %H:%M} UTC, "
            f"permissions: {', '.join(issued.row.permissions) or '(none)'}"
        )
        self.stdout.write(issued.token)


def cluster_account(cluster: str):
    """The service account that stands for a cluster's agent."""
    username = f"client:{cluster}"[:150]
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": ""})
    return user


def find_user(name: str, *, need_email: bool = True):
    user_model = get_user_model()
    matches = list(user_model.objects.filter(Q(username=name) | Q(email__iexact=name))[:2])
    if not matches:
        raise CommandError(f"There is no user {name!r}: create it first (manage.py create_user EMAIL, or the admin).")
    if len(matches) > 1:
        raise CommandError(f"{name!r} matches more than one user: give the username.")
    if need_email and not matches[0].email:
        raise CommandError(f"User {name!r} has no e-mail address; tokens carry it as the owner identity.")
    return matches[0]


def parse_permissions(raw: str) -> list[str]:
    permissions = [item.strip() for item in raw.split(",") if item.strip()]
    unknown = sorted(set(permissions) - set(Permission.values))
    if unknown:
        raise CommandError(f"Unknown permission(s): {', '.join(unknown)}. Known: {', '.join(Permission.values)}")
    return permissions
