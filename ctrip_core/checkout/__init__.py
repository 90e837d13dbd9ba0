"""Hosted checkout: `GET /pay/{id}`, the page merchants without their own UI send payers to.

A Quart blueprint (`blueprint`), Jinja templates and static CSS/JS shipped as package data:
server-rendered, readable without JavaScript, no build step and nothing fetched from elsewhere.
"""

from ctrip_core.checkout.views import blueprint

__all__ = ["blueprint"]
