"""The merchant dashboard's HTTP, `/dashboard`: one room per page family, nested in one blueprint.

- `site`: what every page shares (the session cookie, rendering, `signed_in`: who may see or act);
- `login`: logging in and out, and an invitation's one-time link to set a password;
- `account`: the user's own second factor (TOTP);
- `payments`: the payments list and search, a payment's timeline, and acting on a payment (refund
  with a confirmation step, redeliver an event), creating one;
- `links`: reusable payment links (each visit of its public URL makes a payment), created and
  deactivated by an owner;
- `payouts`, `balances`: sending money out (with a confirmation step; operator approval where
  required) and what the merchant holds (with the CSV export);
- `webhooks`, `keys`, `users`: the merchant's webhook endpoints (test events, attempt log), API
  keys, and people (owner only).

Server-rendered (Jinja, autoescaped: a merchant's `order_id` or `metadata` is text, never markup),
no JavaScript, one stylesheet from the package, a strict CSP on every response. Every POST carries
the CSRF token of its session, checked before anything else; a viewer reads, an owner also acts;
a user sees only its own merchant (another merchant's object is the same 404 as none). Hidden from
/openapi.json: it is a site, not the API. The rules live in services/dashboard and the services
the API uses; these modules only turn forms into calls and answers into pages.
"""

from __future__ import annotations

from quart import Blueprint
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard import (account, balances, keys, links, login, payments, payouts, users,
                                                 webhooks)
from ctrip_core.api.pages import asset_response, secure_pages

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

blueprint = Blueprint("dashboard", __name__)
secure_pages(blueprint, "/dashboard", CSP, cache="no-store")
for room in (login, account, payments, links, payouts, balances, webhooks, keys, users):
    blueprint.register_blueprint(room.blueprint)


@blueprint.get("/dashboard/assets/dashboard.css")
@hide
async def stylesheet():
    return asset_response("dashboard.css", content_type="text/css; charset=utf-8")
