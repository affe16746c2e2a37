"""Cost of checking an OpenID provider's JWT: the same list request with an OIDC token and without authentication.

Runs in-process (Django's WSGI handler, no network between client and server) so the difference is the
authentication itself; interleaves the modes in rounds so drift hits all of them alike. Counts the requests that
reach the provider (it logs each) during the measured rounds: the goal is zero.

    ./bench/run-oidc [--rounds 10] [--per-round 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import start_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()

    start_django("jobbergate-oidc-bench-")
    from django.conf import settings
    from rest_framework.test import APIClient

    from accounts.oidc import reset_provider
    from jobbergate.choices import USER_PERMISSIONS
    from jobbergate.principal import Principal
    from jobscripts.models import JobScript
    from jobscripts.views import JobScriptViewSet
    from testkit.factories import make_template
    from testkit.oidc import OpenIDProvider

    provider = OpenIDProvider().start()
    try:
        settings.OIDC_ISSUER_URL = provider.issuer
        settings.OIDC_AUDIENCE = [provider.audience]
        reset_provider()
        email = "alice@example.com"
        template = make_template(email)
        JobScript.objects.bulk_create(
            JobScript(name=f"job script {n}", owner_email=email, parent_template=template) for n in range(200)
        )
        token = provider.device_flow("alice")["access_token"]
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get_or_create(username=email, defaults={"email": email})[0]

        class NoAuthentication:
            """Stands in for authentication: the same principal, nothing checked."""

            def authenticate(self, request):
                return user, Principal(email=email, permissions=frozenset(USER_PERMISSIONS))

            def authenticate_header(self, request):
                return "Bearer"

        oidc_client = APIClient(SERVER_NAME="127.0.0.1")
        oidc_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        plain_client = APIClient(SERVER_NAME="127.0.0.1")
        url = "/jobbergate/job-scripts?size=50"
        original = JobScriptViewSet.authentication_classes

        def timed(client, count):
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.content[:200]
            return samples

        timed(oidc_client, 50)  # warm-up: discovery and keys are fetched here, once
        JobScriptViewSet.authentication_classes = [NoAuthentication]
        timed(plain_client, 50)
        JobScriptViewSet.authentication_classes = original

        served_before = provider.requests_served()
        samples = {"OIDC JWT": [], "no authentication": []}
        for _ in range(args.rounds):
            samples["OIDC JWT"] += timed(oidc_client, args.per_round)
            JobScriptViewSet.authentication_classes = [NoAuthentication]
            samples["no authentication"] += timed(plain_client, args.per_round)
            JobScriptViewSet.authentication_classes = original
        provider_calls = provider.requests_served() - served_before
    finally:
        provider.remove()

    total = args.rounds * args.per_round
    print(
        f"\n{total} list requests per mode (page of 50), {args.rounds} interleaved rounds, database "
        f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
    )
    print("| mode | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|")
    for mode, values in samples.items():
        q = statistics.quantiles(values, n=100)
        print(f"| {mode} | {statistics.median(values):.3f} | {q[89]:.3f} | {q[98]:.3f} |")
    per_round = [
        statistics.median(samples["OIDC JWT"][i : i + args.per_round])
        - statistics.median(samples["no authentication"][i : i + args.per_round])
        for i in range(0, total, args.per_round)
    ]
    overhead = statistics.median(samples["OIDC JWT"]) - statistics.median(samples["no authentication"])
    print(f"\noverhead at p50: {overhead:.3f} ms (per round: {', '.join(f'{v:.3f}' for v in per_round)})")
    print(f"requests that reached the provider during the measured rounds: {provider_calls}")
    return 0 if overhead < 1.0 and provider_calls == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
