"""Node URLs are shown without what may be a provider's API key: path, query, user:password."""

import pytest

from ctrip_core.config.node_url import scrubbed, shown


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("https://bsc-dataseed.binance.org/", "https://bsc-dataseed.binance.org"),
    ("http://[::1]:8545", "http://[::1]:8545"),
    ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io/…#"),
    ("https://eth.example/rpc?apikey=0123456789abcdef", "https://eth.example/…#"),
    ("https://user:0123456789abcdef@eth.example", "https://eth.example/…#"),
    ("wss://eth.example/ws/0123456789abcdef", "wss://eth.example/…#"),
    ("http://eth.example:99999/0123456789abcdef", "<unparsable URL #"),
    ("0123456789abcdef", "<unparsable URL #"),
])
def test_shown_keeps_scheme_host_and_port_only(url, expected):
    assert shown(url).startswith(expected)
    assert "0123456789abcdef" not in shown(url)


def test_the_tag_tells_two_urls_on_one_host_apart():
    first, second = shown("https://eth.example/v3/key-one"), shown("https://eth.example/v3/key-two")
    assert first != second and first == shown("https://eth.example/v3/key-one")


def test_scrubbed_replaces_every_copy_in_a_message():
    url = "https://eth.example/v3/0123456789abcdef"
    message = scrubbed(f"cannot connect to {url} (tried {url})", url)
    assert "0123456789abcdef" not in message and message.count(shown(url)) == 2
