"""RPC answers are parsed strictly: a value of the wrong shape is a `MalformedAnswer`, never a guess."""

import pytest

from ctrip_core.chains.types import MalformedAnswer, address, hash32, quantity

HASH = "0x" + "ab" * 32
ADDRESS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def test_well_formed_values_parse():
    assert quantity("0x1a", "q") == 26
    assert quantity("0x" + "f" * 64, "q") == 2**256 - 1
    assert hash32(HASH.upper().replace("0X", "0x"), "h") == HASH
    assert address(ADDRESS, "a") == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize("value", ["0x1a\n", "0x1_0", "0x", "1a", " 0x1a", "0x1a ", "0x-1", "0x" + "1" * 65,
                                   26, None, "0x١"], ids=repr)
def test_malformed_quantities_are_refused(value):
    with pytest.raises(MalformedAnswer, match="expected a hex quantity"):
        quantity(value, "balance")


@pytest.mark.parametrize("value", [HASH + "\n", HASH[:-1], HASH + "0", HASH.replace("ab", "zz", 1), None],
                         ids=["trailing-newline", "short", "long", "not-hex", "null"])
def test_malformed_hashes_are_refused(value):
    with pytest.raises(MalformedAnswer, match="expected a 32-byte hash"):
        hash32(value, "block hash")


@pytest.mark.parametrize("value", [ADDRESS + "\n", ADDRESS[:-1], ADDRESS + "0", "0x" + "g" * 40, 1],
                         ids=["trailing-newline", "short", "long", "not-hex", "number"])
def test_malformed_addresses_are_refused(value):
    with pytest.raises(MalformedAnswer, match="expected an address"):
        address(value, "to")


def test_a_huge_answer_is_not_echoed_whole():
    with pytest.raises(MalformedAnswer) as err:
        quantity("0x" + "1" * 100_000, "balance")
    assert len(str(err.value)) < 200
