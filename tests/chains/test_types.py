"""RPC answers are parsed strictly: a value of the wrong shape is a `MalformedAnswer`, never a guess."""

import pytest

from ctrip_core.chains.erc20 import parse_balance_of
from ctrip_core.chains.types import Log, MalformedAnswer, address, hash32, quantity

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
    with pytest.raises(MalformedAnswer, match="expected 32 bytes"):
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


def _log(data) -> dict:
    return {"address": ADDRESS, "topics": [HASH], "data": data, "blockNumber": "0x1", "blockHash": HASH,
            "transactionHash": HASH, "logIndex": "0x0"}


def test_log_data_is_hex_bytes():
    assert Log.parse(_log("0x")).data == "0x"
    assert Log.parse(_log("0x" + "AB" * 32)).data == "0x" + "ab" * 32


@pytest.mark.parametrize("data", ["0x" + "0" * 62 + "_1", "0x" + "zz" * 32, "0x" + "0" * 63, "00" * 32, "0x00\n", None],
                         ids=["underscore", "not-hex", "odd-length", "no-prefix", "trailing-newline", "null"])
def test_malformed_log_data_is_refused(data):
    """The ERC-20 matcher reads the amount from the data: int() would take an underscore, or raise."""
    with pytest.raises(MalformedAnswer, match="data hex bytes"):
        Log.parse(_log(data))


@pytest.mark.parametrize("answer", ["0x" + "0" * 62 + "_1", "0x" + "zz" * 32, "0x", None], ids=repr)
def test_a_balance_of_answer_is_one_word(answer):
    assert parse_balance_of("0x" + "0" * 63 + "5") == 5
    with pytest.raises(MalformedAnswer, match="balanceOf"):
        parse_balance_of(answer)
