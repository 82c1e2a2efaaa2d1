"""Domain errors. Services raise these; one DRF handler and the page views turn them into responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request the product refuses, with a message a person can act on.

    `code` is stable and machine-readable (API clients branch on it); `message` is for people;
    `extra` carries structured details (field names, ids) and never secrets.
    """

    code = "application_error"
    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def __str__(self) -> str:
        return self.message


class ValidationError(ApplicationError):
    code = "invalid"


class NotAllowed(ApplicationError):
    """The caller's role does not allow this action in this company."""

    code = "permission_denied"
    status_code = 403


class Conflict(ApplicationError):
    """The object is in a state that does not allow the change (e.g. editing a void invoice)."""

    code = "conflict"
    status_code = 409
