"""What the portal's tests share: a signed-in browser session, an example application, a healthy cluster."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from submissions.models import ClusterStatus
from testkit.factories import make_example_application


def browser(email: str) -> Client:
    """A signed-in browser session of an ordinary user (no groups, no staff)."""
    user, _ = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def gpu(db):
    return make_example_application("gpu-training")


@pytest.fixture
def cluster(db):
    return ClusterStatus.objects.create(client_id="cluster-a", interval=60)


@pytest.fixture
def alice_browser(db):
    return browser("alice@example.com")
