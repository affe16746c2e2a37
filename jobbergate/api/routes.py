"""URL patterns every resource shares: list/create, detail, and the contract's ``clone/{x}`` path."""

from __future__ import annotations

from django.urls import path


def resource_urlpatterns(prefix: str, viewset, *, key: str = "<int:pk>") -> list:
    """``{prefix}``, ``{prefix}/{key}`` and ``{prefix}/clone/{key}``, without trailing slashes."""
    name = prefix.replace("/", "-")
    return [
        path(prefix, viewset.as_view({"get": "list", "post": "create"}), name=f"{name}-list"),
        path(f"{prefix}/clone/{key}", viewset.as_view({"post": "clone"}), name=f"{name}-clone"),
        path(
            f"{prefix}/{key}",
            viewset.as_view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}),
            name=f"{name}-detail",
        ),
    ]
