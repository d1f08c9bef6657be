"""Domain errors. Services raise these; app.py maps them to problem+json in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose. `status` is the HTTP status it maps to."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"


class MalformedBody(DomainError):
    """A body that cannot be read as JSON at all (here: nested past what the decoder can follow)."""

    status = 400
    title = "Malformed request body"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class PreconditionRequired(DomainError):
    status = 428
    title = "Precondition required"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class InvalidDocument(InvalidInput):
    """A knowledge file that cannot be used: wrong type, broken, encrypted, empty, too big."""

    title = "Invalid document"
