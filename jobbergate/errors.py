"""The errors of the domain: what services, validators and models raise when a rule refuses a request.

They say what is wrong in words a user can act on, and nothing about HTTP: the layers above choose how to show
them. The REST API answers each with its status in one place (``jobbergate.api.exceptions.DOMAIN_STATUS``:
Malformed 400, Forbidden 403, NotFound 404, Conflict 409, TooLarge 413, Invalid 422, Busy 429, Unavailable 503);
the portal and admin actions show them as messages; management commands turn them into ``CommandError``.
Nothing below the views imports DRF.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request a rule refuses; nothing was changed.

    ``message`` is one sentence or a list of them (each a separate problem); ``fields`` maps a field's name to its
    messages when the problems belong to named fields (an application's answers, say).
    """

    def __init__(self, message: str | list[str] = "", *, fields: dict[str, list[str]] | None = None) -> None:
        self.message = message
        self.fields = fields
        super().__init__(self.text)

    @property
    def messages(self) -> list[str]:
        """Every problem as one line: ``field: message`` for the per-field ones."""
        if self.fields:
            return [f"{name}: {text}" for name, texts in self.fields.items() for text in texts]
        return list(self.message) if isinstance(self.message, list) else [self.message] if self.message else []

    @property
    def text(self) -> str:
        return "; ".join(self.messages)


class Invalid(DomainError):
    """The content breaks a rule of the domain (a template that does not render, an answer out of range)."""


class Malformed(DomainError):
    """The request itself is ill-formed, or asks for what the row's state does not allow (cancel a DONE job)."""


class Forbidden(DomainError):
    """The caller may see the row but not do this to it (change another user's application, say)."""


class NotFound(DomainError):
    """The row or file asked for does not exist, or is not the caller's to see."""


class Conflict(DomainError):
    """The request conflicts with what is stored (a name in use, a job already submitted elsewhere)."""


class TooLarge(DomainError):
    """A file or a set of files over its size limit."""


class Busy(DomainError):
    """The caller already runs as many costly requests as one user may at once (``jobbergate.fairness``)."""


class Unavailable(DomainError):
    """A part the request needs (the identity provider) cannot be reached now; the same request may succeed later."""
