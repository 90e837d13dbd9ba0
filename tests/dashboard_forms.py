"""What the dashboard tests through the app share: a user of a merchant, the CSRF token of a page,
logging in, and posting a form of a page with its token (Quart's test client)."""

from __future__ import annotations

import re

from ctrip_core.services.accounts.users import add_user

PASSWORD = "correct horse battery staple"


async def user_of(runtime, merchant_id: str, role: str = "owner") -> str:
    email = f"{role}-{merchant_id.lower()}@shop.example"
    async with runtime.sessions() as s, s.begin():
        await add_user(s, merchant_id, email, PASSWORD, role)
    return email


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def text(response) -> str:
    return (await response.get_data()).decode()


async def log_in(client, email: str, password: str = PASSWORD, code: str = ""):
    form = await client.get("/dashboard/login")
    token = csrf_of(await text(form))
    return await client.post("/dashboard/login", form={"email": email, "password": password, "csrf_token": token,
                                                       "code": code})


async def post(client, url: str, form: dict | None = None, *, token_from: str = "/dashboard"):
    """POST `form` to `url` with the session's CSRF token (read from the page at `token_from`)."""
    token = csrf_of(await text(await client.get(token_from)))
    return await client.post(url, form={**(form or {}), "csrf_token": token})


async def signed_in(app, runtime, merchant: dict, role: str = "owner"):
    """A test client of `app` logged in as a new user of `merchant` with `role`."""
    client = app.test_client()
    assert (await log_in(client, await user_of(runtime, merchant["id"], role))).status_code == 303
    return client
