"""What every dashboard page shares: the session cookie, rendering a page, who is signed in.

`signed_in()` wraps a page handler: without a live session the browser goes to the login form; on
a POST the session's CSRF token is checked before anything else; `signed_in(owner=True)` refuses a
viewer (403: a viewer reads, an owner also acts). The handler gets the `sessions.Current` first.
The session cookie is HttpOnly, SameSite=Strict, path /dashboard, and Secure but at localhost
(`_secure`).
"""

from __future__ import annotations

import functools

from quart import Response, redirect, render_template, request, url_for

from ctrip_core.api.pages import asset
from ctrip_core.api.state import app_state
from ctrip_core.db.types import utcnow
from ctrip_core.services.dashboard import sessions

SESSION_COOKIE = "ctrip_session"
PREFIX = "/dashboard"


def local_path(location: str | None) -> str | None:
    """`location` when it is a path of the dashboard (a stored redirect is evidence, not an order)."""
    return location if location and location.startswith(PREFIX + "/") and "//" not in location \
        and "\\" not in location else None


def secure_scheme() -> bool:
    """Secure cookies everywhere but on this machine's own address (`ctrip dev`): behind a proxy that
    ends TLS the scheme Hypercorn sees is http, so the scheme alone cannot say."""
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
    return request.scheme == "https" or host not in ("localhost", "127.0.0.1", "[::1]")


def asset_choices() -> list[tuple[str, str]]:
    """Every configured (chain, asset symbol), by chain then native coin first: what a form offers."""
    return [(name, asset.symbol) for name, config in sorted(app_state().runtime.chain_configs().items())
            for asset in (config.native, *config.tokens)]


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="Strict",
                        secure=secure_scheme())


async def page(template: str, http_status: int = 200, /, **context) -> Response:
    """`template` rendered with `context` (which may name anything, a `status` filter too)."""
    body = await render_template(f"dashboard/{template}", stylesheet=url_for("dashboard.stylesheet",
                                                                              v=asset("dashboard.css")[1]), **context)
    return Response(body, status=http_status, content_type="text/html; charset=utf-8")


async def signed_in_page(now: sessions.Current, template: str, http_status: int = 200, /, **context) -> Response:
    """A page of the signed-in part: the header shows the user and carries the session's CSRF token."""
    return await page(template, http_status, user=now.user, csrf_token=now.csrf_token,
                      owner=now.user.role == "owner", **context)


async def current() -> sessions.Current | None:
    async with app_state().runtime.sessions() as session, session.begin():
        return await sessions.current(session, request.cookies.get(SESSION_COOKIE), utcnow())


def to_login() -> Response:
    response = redirect(url_for("dashboard.login.login_form"), 303)
    if SESSION_COOKIE in request.cookies:  # (a cross-site link carries none: nothing to clear)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def expired_form() -> Response:
    return Response("The form expired: reload the page.\n", status=403, content_type="text/plain; charset=utf-8")


def signed_in(handler=None, *, owner: bool = False):
    """Wrap a page handler `async def handler(now, **path_args)` (see the module docstring)."""
    if handler is None:
        return lambda h: signed_in(h, owner=owner)

    @functools.wraps(handler)
    async def wrapper(*args, **kwargs):
        now = await current()
        if now is None:
            return to_login()
        if request.method == "POST" and not sessions.same_token((await request.form).get("csrf_token"),
                                                                now.csrf_token):
            return expired_form()
        if owner and now.user.role != "owner":
            return await signed_in_page(now, "forbidden.html", 403)
        return await handler(now, *args, **kwargs)

    return wrapper
