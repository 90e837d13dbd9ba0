"""Hostile API input (issue 14): each case answered 500 or was accepted before; each must be a 4xx
naming the field or header, with nothing stored. Data only; `test_hostile_input.py` runs it.

A case is (name, method, path, headers, raw body, expected status, field named in the error).
`headers` is a list of pairs, so a header may repeat; `{key}` stands for the merchant's API key.
Every case carries an `Idempotency-Key` (unless it is the header under test), so a request wrongly
accepted would leave an idempotency row as well as a payment.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    name: str
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int
    field: str | None


AUTH = ("Authorization", "Bearer {key}")
JSON = ("Content-Type", "application/json")
IDEM = ("Idempotency-Key", "hostile-{case}")
STANDARD = [AUTH, JSON, IDEM]
PAYMENT = b'"chain":"anvil","asset":"ETH","amount":"1"'


def payment(extra: bytes = b"") -> bytes:
    """A valid payment body with `extra` members after the three required ones."""
    return b"{" + PAYMENT + (b"," + extra if extra else b"") + b"}"


def redirect(url: str) -> bytes:
    """A payment whose redirect_url is `url`, JSON-escaped as a client would send it."""
    import json

    return payment(b'"redirect_url":' + json.dumps(url).encode())


CORPUS: list[Case] = [
    # Nesting: 2,000 levels in 8 KiB raised RecursionError (500).
    Case("nested-2000-arrays-in-metadata", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":' + b"[" * 2000 + b"]" * 2000), 400, None),
    Case("nested-2000-objects", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":' + b'{"a":' * 2000 + b"1" + b"}" * 2000), 400, None),
    Case("nested-2000-webhook-endpoint", "POST", "/v1/webhook-endpoints", STANDARD,
         b'{"url":"https://example.com/h","events":' + b"[" * 2000 + b"]" * 2000 + b"}", 400, None),
    # Lone surrogates: PostgreSQL cannot store them (a database error, 500), and metadata stored them.
    Case("lone-surrogate-order-id", "POST", "/v1/payments", STANDARD,
         payment(b'"order_id":"\\ud800"'), 422, "order_id"),
    Case("lone-low-surrogate-order-id", "POST", "/v1/payments", STANDARD,
         payment(b'"order_id":"ok-\\udfff"'), 422, "order_id"),
    Case("lone-surrogate-metadata-key", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":{"\\ud800":"x"}'), 422, "metadata"),
    Case("lone-surrogate-metadata-value", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":{"k":"\\udbff"}'), 422, "metadata.k"),
    Case("reversed-surrogate-pair-metadata-value", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":{"k":"\\udc00\\ud800"}'), 422, "metadata.k"),
    # Duplicate keys: the last one won, so {"amount":"-1","amount":"2"} was a payment of 2.
    Case("duplicate-amount", "POST", "/v1/payments", STANDARD,
         b'{"chain":"anvil","asset":"ETH","amount":"-1","amount":"2"}', 400, "amount"),
    Case("duplicate-chain", "POST", "/v1/payments", STANDARD,
         b'{"chain":"nowhere","asset":"ETH","amount":"1","chain":"anvil"}', 400, "chain"),
    Case("duplicate-metadata-key", "POST", "/v1/payments", STANDARD,
         payment(b'"metadata":{"plan":"free","plan":"pro"}'), 400, "metadata.plan"),
    Case("duplicate-webhook-url", "POST", "/v1/webhook-endpoints", STANDARD,
         b'{"url":"https://example.com/a","url":"https://example.com/b"}', 400, "url"),
    # Not JSON: Python's json.loads takes NaN and Infinity (422 on the field, not the 400 of bad JSON).
    Case("nan-literal", "POST", "/v1/payments", STANDARD, payment(b'"expires_in":NaN'), 400, None),
    Case("infinity-in-metadata", "POST", "/v1/payments", STANDARD, payment(b'"metadata":{"k":-Infinity}'),
         400, None),
    # Repeated headers: the first one won, silently.
    Case("two-authorization-headers", "POST", "/v1/payments",
         [AUTH, ("Authorization", "Bearer sk_someone_else"), JSON, IDEM], payment(), 400, "Authorization"),
    Case("two-equal-authorization-headers", "POST", "/v1/payments", [AUTH, AUTH, JSON, IDEM], payment(),
         400, "Authorization"),
    Case("two-content-types", "POST", "/v1/payments", [AUTH, JSON, ("Content-Type", "text/plain"), IDEM],
         payment(), 400, "Content-Type"),
    Case("two-idempotency-keys", "POST", "/v1/payments",
         [AUTH, JSON, IDEM, ("Idempotency-Key", "another-{case}")], payment(), 400, "Idempotency-Key"),
    # Control characters in an Idempotency-Key were stored as part of the key.
    Case("idempotency-key-tab", "POST", "/v1/payments", [AUTH, JSON, ("Idempotency-Key", "a\tb-{case}")],
         payment(), 400, "Idempotency-Key"),
    Case("idempotency-key-soh", "POST", "/v1/payments", [AUTH, JSON, ("Idempotency-Key", "a\x01b-{case}")],
         payment(), 400, "Idempotency-Key"),
    Case("idempotency-key-del", "POST", "/v1/payments", [AUTH, JSON, ("Idempotency-Key", "a\x7fb-{case}")],
         payment(), 400, "Idempotency-Key"),
    Case("idempotency-key-c1-control", "POST", "/v1/payments",
         [AUTH, JSON, ("Idempotency-Key", "a\x85b-{case}")], payment(), 400, "Idempotency-Key"),
    # redirect_url: only `^https?://` was checked, so these were stored (and the webhook URL rule,
    # the same rule, already refused them).
    Case("redirect-url-crlf", "POST", "/v1/payments", STANDARD,
         redirect("https://shop.example/done\r\nSet-Cookie: a=b"), 422, "redirect_url"),
    Case("redirect-url-lf", "POST", "/v1/payments", STANDARD, redirect("https://shop.example/\nx"),
         422, "redirect_url"),
    Case("redirect-url-space", "POST", "/v1/payments", STANDARD, redirect("https://shop.example/a b"),
         422, "redirect_url"),
    Case("redirect-url-tab", "POST", "/v1/payments", STANDARD, redirect("https://shop.example/\tb"),
         422, "redirect_url"),
    Case("redirect-url-nbsp-host", "POST", "/v1/payments", STANDARD, redirect("https://shop\u00a0example/"),
         422, "redirect_url"),
    Case("redirect-url-port-0", "POST", "/v1/payments", STANDARD, redirect("https://shop.example:0/done"),
         422, "redirect_url"),
    Case("redirect-url-port-99999", "POST", "/v1/payments", STANDARD,
         redirect("https://shop.example:99999/done"), 422, "redirect_url"),
    Case("redirect-url-bad-ipv6-host", "POST", "/v1/payments", STANDARD, redirect("https://[x]/done"),
         422, "redirect_url"),
    Case("redirect-url-unclosed-bracket", "POST", "/v1/payments", STANDARD, redirect("http://["),
         422, "redirect_url"),
    Case("redirect-url-no-host", "POST", "/v1/payments", STANDARD, redirect("https:///done"),
         422, "redirect_url"),
    Case("redirect-url-credentials", "POST", "/v1/payments", STANDARD,
         redirect("https://shop.example@evil.example/done"), 422, "redirect_url"),
]
