"""One permission class for every resource: the contract's permission strings, then ownership for writes.

A viewset names its resource (``permission_resource = "job-scripts"``); each action maps to a verb. Reading needs
``jobbergate:<resource>:read``; changing or deleting someone else's row needs maintainer or admin.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions

from jobbergate.principal import Principal

ACTION_VERBS = {
    "list": "read",
    "retrieve": "read",
    "create": "create",
    "clone": "create",
    "update": "update",
    "partial_update": "update",
    "destroy": "delete",
}
OWNER_ONLY_VERBS = {"update", "delete"}
# OPTIONS (DRF's "metadata" action) describes an endpoint: reading that description needs read. DRF then asks
# again, with the request's method set to POST or PUT, before it lists the form of each: those need their verb.
METADATA_VERBS = {"OPTIONS": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def required_verb(view, request) -> str:
    action = getattr(view, "action", None) or "retrieve"
    if action == "metadata":
        return METADATA_VERBS.get(request.method, "read")
    verbs = {**ACTION_VERBS, **getattr(view, "action_verbs", {})}
    return verbs.get(action, "update")


class ResourcePermission(permissions.BasePermission):
    """Grants when the principal holds the resource's permission for the action (or maintainer/admin)."""

    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        resource = getattr(view, "permission_resource", None)
        if resource is None:
            return principal.is_admin
        verb = required_verb(view, request)
        if principal.may(resource, verb):
            return True
        self.message = f"This needs the permission 'jobbergate:{resource}:{verb}'."
        return False

    def has_object_permission(self, request, view, obj) -> bool:
        principal: Principal = request.auth
        if required_verb(view, request) not in OWNER_ONLY_VERBS or principal.is_privileged:
            return True
        if obj.is_owned_by(principal):
            return True
        self.message = "Only the owner, a maintainer or an admin may change this."
        return False
