"""OpenAPI helpers: the error responses every authenticated route documents."""

from __future__ import annotations

from quart_schema import document_response

from ctrip_core.api.errors import ErrorResponse

#: Statuses any /v1 route may answer besides its success: auth, scope, rate limit, bad body, size.
COMMON_ERRORS = (400, 401, 403, 413, 422, 429)


def errors(*statuses: int):
    """Document ErrorResponse for the common statuses plus `statuses` on a route.

    Documentation only: errors are raised and rendered by api/errors.py's handlers, never returned
    by a route, so a validating wrapper per status (as `validate_response` adds) had nothing to
    check and cost every /v1 request six nested calls.
    """

    def decorate(handler):
        for status in sorted(set(COMMON_ERRORS + statuses)):
            handler = document_response(ErrorResponse, status)(handler)
        return handler

    return decorate
