"""One error shape everywhere: {"error": {"code", "message", "field"?}}, never a 500 for bad input.

Service errors, schema validation errors and Quart's HTTP errors (400, 404, 405, 413...) are all
rendered here, so a client can handle every failure the same way.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict
from quart import Quart, jsonify
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError
from werkzeug.exceptions import HTTPException

from ctrip_core.services.errors import ServiceError

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    code: str
    """A stable machine-readable code, e.g. `validation_error`, `not_found`, `insufficient_scope`."""
    message: str
    """What went wrong, for a person."""
    field: str | None = None
    """The request field, query parameter or header at fault, when one is."""


class ErrorResponse(BaseModel):
    """Every error the API answers."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    error: ErrorBody
    """The error."""


class APIError(Exception):
    """An error raised by the HTTP layer itself (auth, rate limit, content type)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, field: str | None = None, headers=None):
    body = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_error_response(exc: HTTPException):
    """Quart's own HTTP errors (no such route, wrong method, body too large...) in the API's shape."""
    status = exc.code or 500
    message = {404: "no such route", 405: "method not allowed on this route",
               408: "request body not received in time (api.body_timeout_s)",
               413: "request body too large"}.get(status, exc.description or exc.name)
    allow = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
    return error_response(status, HTTP_CODES.get(status, "error"), message, headers=allow)


def _validation_field(exc) -> tuple[str | None, str]:
    error = getattr(exc, "validation_error", None)
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p != "__root__"]
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        return (".".join(loc) or None), message
    return None, "request body is not a JSON object of the expected shape"


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 408: "request_timeout", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "invalid_field", 429: "rate_limited"}


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(APIError)
    async def api_error(exc: APIError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.errorhandler(ServiceError)
    async def service_error(exc: ServiceError):
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(RequestSchemaValidationError)
    @app.errorhandler(QuerystringValidationError)
    @app.errorhandler(RequestHeadersValidationError)
    async def schema_error(exc):
        field, message = _validation_field(exc)
        if field is None and isinstance(exc, RequestSchemaValidationError):
            return error_response(422, "invalid_body", message)
        return error_response(422, "invalid_field", message, field)

    @app.errorhandler(UnicodeDecodeError)
    async def undecodable_body(exc: UnicodeDecodeError):
        """Quart decodes the body as UTF-8 before parsing JSON; bytes that are not UTF-8 are bad input."""
        return error_response(400, "bad_request", "request body is not valid UTF-8 JSON")

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException):
        return http_error_response(exc)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; the request id identifies it in the logs")
