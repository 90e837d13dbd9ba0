"""The dashboard's optional second factor: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits),
what every authenticator app speaks.

- Enrolment: `start` gives the user a new secret (stored only sealed with `secret_key`), shown as
  a QR code and as text; `confirm` turns the factor on when a code from the app matches, proving
  the app holds it. Turning it off asks for a code too (`turn_off`).
- Logging in: a user with the factor on needs a current code besides the password (`accepts`). A
  code is good once: the step it matched must be later than the last one accepted, so a code seen
  over a shoulder or in a proxy log cannot be replayed within its window. One step of clock drift
  either way is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

import segno

from ctrip_core.db.models import DashboardUser
from ctrip_core.services.errors import Conflict, InvalidField
from ctrip_core.services.webhooks.secret_box import SecretBox

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "cTrip"


def new_secret() -> str:
    """160 random bits in base32, without padding (as authenticator apps take it)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def code_at(secret: str, step: int) -> str:
    """The code of time step `step` (RFC 4226's HOTP of the step counter)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** DIGITS).zfill(DIGITS)


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_S


def matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The step within the drift window whose code is `code` and that is later than `after`, or None."""
    code = (code or "").replace(" ", "").strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER}:{email}", safe="")
    return f"otpauth://totp/{label}?" + urlencode({"secret": secret, "issuer": ISSUER, "algorithm": "SHA1",
                                                    "digits": DIGITS, "period": STEP_S})


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG `data:` URI (drawn here: no script, no request elsewhere)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, dark="#000", light="#fff",
                                    xmldecl=False, svgns=True)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def is_on(user: DashboardUser) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret_ciphertext is not None


def start(user: DashboardUser, box: SecretBox) -> str:
    """A new secret for `user`, not yet on (the caller commits); returns it to show once."""
    if is_on(user):
        raise Conflict("two-factor authentication is on already: turn it off first", "code")
    secret = new_secret()
    user.totp_secret_ciphertext, user.totp_last_step = box.seal(secret), None
    return secret


def pending_secret(user: DashboardUser, box: SecretBox) -> str | None:
    """The secret of an enrolment started and not confirmed yet, else None."""
    if user.totp_secret_ciphertext is None or user.totp_enabled_at is not None:
        return None
    return box.open(user.totp_secret_ciphertext)


def accepts(user: DashboardUser, box: SecretBox, code: str, now: datetime) -> bool:
    """Whether `code` is a fresh current code of the user's factor; if so the step is used up
    (the caller commits)."""
    if user.totp_secret_ciphertext is None:
        return False
    step = matching_step(box.open(user.totp_secret_ciphertext), code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def confirm(user: DashboardUser, box: SecretBox, code: str, now: datetime) -> None:
    """Turn the factor on with a code of the enrolment's secret; InvalidField when it does not match."""
    if is_on(user) or user.totp_secret_ciphertext is None:
        raise Conflict("no enrolment to confirm: start again", "code")
    if not accepts(user, box, code, now):
        raise InvalidField("that code does not match: check the app's clock and try the next code", "code")
    user.totp_enabled_at = now


def turn_off(user: DashboardUser, box: SecretBox, code: str, now: datetime) -> None:
    """Turn the factor off, with a current code; InvalidField when it does not match."""
    if not is_on(user):
        raise Conflict("two-factor authentication is off", "code")
    if not accepts(user, box, code, now):
        raise InvalidField("that code does not match", "code")
    user.totp_secret_ciphertext, user.totp_enabled_at, user.totp_last_step = None, None, None
