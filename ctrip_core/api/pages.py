"""What the server-rendered pages (/pay, /docs, /dashboard) share: their security headers, and their
assets read from the package (api/static) and served with a content version.

- `secure_pages(blueprint, prefix, csp)`: every response at `prefix` or under `prefix/` (the app's
  own errors included) gets the page's Content-Security-Policy and the fixed headers below;
  `Cache-Control` only where the route set none.
- `asset(*path)`: a file under api/static as (bytes, version), read once; the version (12 hex of
  its sha256) goes in the URL, so a new release is fetched at once and the old one cached a day.
- `asset_response(*path, content_type=...)`: that file as a response.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from quart import Blueprint, Response, request

FIXED_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def secure_pages(blueprint: Blueprint, prefix: str, csp: str, *, cache: str | None = None) -> None:
    """Give every response at `prefix` or under `prefix/` the CSP and FIXED_HEADERS (and `cache` as a default)."""
    headers = {"Content-Security-Policy": csp, **FIXED_HEADERS}

    @blueprint.after_app_request
    async def security_headers(response: Response) -> Response:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            for name, value in headers.items():
                response.headers[name] = value
            if cache is not None:
                response.headers.setdefault("Cache-Control", cache)
        return response


@functools.cache
def asset(*path: str) -> tuple[bytes, str]:
    """The file at api/static/<path…> and its version."""
    data = resources.files("ctrip_core.api").joinpath("static", *path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def asset_response(*path: str, content_type: str) -> Response:
    data, version = asset(*path)
    return Response(data, content_type=content_type,
                    headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{version}"'})
