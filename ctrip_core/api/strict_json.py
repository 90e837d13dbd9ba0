"""The one decoder of request bodies: JSON as RFC 8259 means it, not as `json.loads` tolerates it.

`create_app` makes `StrictJSONProvider` the app's JSON provider, so `request.get_json()`, which
quart-schema's `@validate_request` calls for every route with a body, parses here and nowhere else.
Refused before any model sees the body, each as the API's one error shape:

- nesting deeper than `MAX_DEPTH` (400; `json.loads` recursed into a RecursionError, a 500);
- a key twice in one object, at any depth (400 naming it: the last one silently won, so
  `{"amount": "-1", "amount": "2"}` was a payment of 2);
- a lone UTF-16 surrogate (`"\\ud800"`) in any key or string (422 naming the field: PostgreSQL
  cannot store one, and a metadata key with one was stored and answered back);
- `NaN`, `Infinity`, `-Infinity` and everything else that is not JSON (400).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import JSONProvider

from ctrip_core.api.errors import APIError

#: Objects and arrays inside one another, the body itself being level 1 (a payment's metadata is 2).
MAX_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Repeated(dict):
    """An object whose `repeated` key appeared more than once; `_check` reports it with its path."""

    repeated: str


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated = _Repeated(obj)
    repeated.repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
    return repeated


def _constant(name: str):
    raise APIError(400, "invalid_json", f"request body is not valid JSON: {name} is not a JSON value")


def _too_deep(text: str) -> bool:
    """Do objects and arrays nest deeper than MAX_DEPTH? Counted on the text, strings removed, so
    that the parser never recurses that deep."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= MAX_DEPTH:
        return False
    depth = 0
    for ch in brackets:
        depth += 1 if ch in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _field(path: tuple[str, ...]) -> str | None:
    return ".".join(path) or None


def _check(value: Any, path: tuple[str, ...]) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise APIError(422, "invalid_field", "must not contain a lone UTF-16 surrogate", field=_field(path))
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise APIError(422, "invalid_field", "keys must not contain a lone UTF-16 surrogate",
                               field=_field(path))
            _check(item, (*path, key))
        if isinstance(value, _Repeated):
            raise APIError(400, "duplicate_key", "appears more than once in the same JSON object",
                           field=_field((*path, value.repeated)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, (*path, str(index)))


def loads(text: str | bytes, **_: Any) -> Any:
    """Parse a request body; APIError (400, or 422 naming the field) for anything not plainly JSON."""
    if isinstance(text, bytes):
        text = text.decode()  # a UnicodeDecodeError is the API's 400 "not valid UTF-8 JSON"
    if _too_deep(text):
        raise APIError(400, "nested_too_deep", f"request body nests objects and arrays deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise APIError(400, "invalid_json", f"request body is not valid JSON: {exc.msg} "
                                            f"(line {exc.lineno}, column {exc.colno})") from None
    except ValueError:  # an integer of more than 4,300 digits (sys.int_info.default_max_str_digits)
        raise APIError(400, "invalid_json", "request body is not valid JSON: a number is too long") from None
    _check(value, ())
    return value


class StrictJSONProvider(JSONProvider):
    """Decodes with `loads`; encodes as `encoder` does, the provider it replaces (quart-schema's,
    which knows pydantic models)."""

    def __init__(self, app, encoder: JSONProvider):
        super().__init__(app)
        self._encoder = encoder

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self._encoder.dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)

    def response(self, *args: Any, **kwargs: Any):
        return self._encoder.response(*args, **kwargs)
