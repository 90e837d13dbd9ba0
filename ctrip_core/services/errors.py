"""Errors the use-cases raise; the API maps each to its HTTP status, the CLI to a message."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidField(ServiceError):
    """A request field is well-formed JSON but not an acceptable value."""

    status = 422
    code = "invalid_field"


class NotFound(ServiceError):
    """No such object for this merchant (another merchant's object is 'not found' too)."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The object is not in a state that allows this, or an idempotency key was reused."""

    status = 409
    code = "conflict"


class RateUnavailableError(ServiceError):
    """No fresh, agreeing rate for a priced payment's pair: never a stale or guessed quote."""

    status = 503
    code = "rate_unavailable"


class MissingScope(ServiceError):
    """The API key may do this only with another scope (a refund to an address other than the sender's
    needs `payouts`)."""

    status = 403
    code = "missing_scope"
