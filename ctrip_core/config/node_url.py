"""Node URLs as they may be shown in logs, metrics and errors.

A provider's RPC or websocket URL often carries its API key (Infura's and Alchemy's in the path,
others in the query or as user:password), and secrets never appear in logs, metrics or
exceptions. So the URL of a node is shown as `scheme://host[:port]`, and when anything else was
hidden, `/…` and a tag: six hex digits of a hash of the whole URL, which tell two URLs on one host
apart (two keys, two networks) without saying anything about what they hold.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import urlsplit


@lru_cache(maxsize=256)
def shown(url: str) -> str:
    """The URL's scheme, host and port; "/…#tag" when a path, query or credentials were left out."""
    tag = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:6]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"<unparsable URL #{tag}>"
    if not parts.scheme or not parts.hostname:
        return f"<unparsable URL #{tag}>"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    base = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    hidden = parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment
    return f"{base}/…#{tag}" if hidden else base


def scrubbed(text: str, url: str) -> str:
    """`text` (a library's error message) with every copy of `url` replaced by `shown(url)`."""
    return text.replace(url, shown(url)) if url else text
