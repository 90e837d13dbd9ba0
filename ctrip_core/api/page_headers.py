"""The security headers of the server-rendered pages (/pay, /docs, /dashboard): each blueprint names
its path prefix and its headers, and every response under it (the app's own errors included) gets
them; `Cache-Control` only where the route set none."""

from __future__ import annotations

from quart import Blueprint, Response, request


def secure_pages(blueprint: Blueprint, prefix: str, headers: dict[str, str], *, cache: str | None = None) -> None:
    """Give every response at `prefix` or under `prefix/` the `headers` (and `cache` as a default)."""

    @blueprint.after_app_request
    async def security_headers(response: Response) -> Response:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            for name, value in headers.items():
                response.headers[name] = value
            if cache is not None:
                response.headers.setdefault("Cache-Control", cache)
        return response
