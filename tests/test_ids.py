"""Object ids: prefix, 24 base62 characters, no repeats, every character in use at every position."""

from __future__ import annotations

import re
import string

from ctrip_core.ids import new_id


def test_ids_have_the_prefix_and_24_base62_characters():
    assert re.fullmatch(r"pay_[A-Za-z0-9]{24}", new_id("pay"))


def test_ids_do_not_repeat_and_use_the_whole_alphabet_everywhere():
    ids = [new_id("evt")[4:] for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    alphabet = set(string.ascii_letters + string.digits)
    for position in (0, 11, 23):  # low, middle and high digits of the reduced draw
        seen = {i[position] for i in ids}
        assert seen == alphabet, position
