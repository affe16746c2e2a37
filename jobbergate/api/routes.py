"""URL patterns every resource shares: list/create, detail, and the contract's ``clone/{x}`` path."""

from __future__ import annotations

from django.urls import path, register_converter


class IdConverter:
    """A database id in a path: at most 18 digits, so it always fits a 64-bit column (longer is a 404)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
ID_KEY = "<id:pk>"


def resource_urlpatterns(prefix: str, viewset, *, key: str = ID_KEY) -> list:
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
