"""The one rule for a URL cTrip is given to call or to send a payer to (a webhook endpoint's `url`,
a payment's `redirect_url`): an absolute http(s) URL with a host, a port from 1 to 65535, no
credentials, and no whitespace or control characters anywhere (CR/LF would split a header line
or a `Location`). The API answers 422 naming the field; the checkout follows only what passes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ctrip_core.services.errors import InvalidField

#: Unicode whitespace (space, tab, CR/LF, NBSP, U+2028...) and C0/C1 control characters, DEL.
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def check_http_url(url: str, field: str) -> str:
    """`url` as given, or InvalidField naming `field`: never a ValueError out of urlsplit or `.port`."""
    if _FORBIDDEN.search(url):
        raise InvalidField("must not contain whitespace or control characters", field)
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        raise InvalidField("is not a valid URL (bad host or port)", field) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidField("must be an absolute http(s) URL", field)
    if port == 0:
        raise InvalidField("port must be between 1 and 65535", field)
    if parts.username is not None or parts.password is not None:
        raise InvalidField("must not contain credentials", field)
    return url
