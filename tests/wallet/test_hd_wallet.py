"""HD derivation vectors: the account xpub gives Anvil's own accounts and eth-account's addresses."""

import pytest
from eth_account import Account

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB
from ctrip_core.wallet import MnemonicSigner, WalletError, XpubDeriver, split_account_path, xpub_from_mnemonic

Account.enable_unaudited_hdwallet_features()


def test_xpub_from_anvil_mnemonic_matches_known_vector():
    assert xpub_from_mnemonic(ANVIL_MNEMONIC) == ANVIL_XPUB


def _accounts_anvil_prints() -> list[str]:
    """Start anvil without --silent and read the 'Available Accounts' block it prints."""
    import re
    import subprocess

    from ctrip_core.devnet.anvil import find_binary, free_port

    proc = subprocess.Popen([str(find_binary("anvil")), "--port", str(free_port())], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Listening on" in line:
                break
    finally:
        proc.kill()
        proc.wait()
    return re.findall(r"^\(\d\) (0x[0-9a-fA-F]{40}) \(10000", "".join(lines), re.M)


def test_first_ten_addresses_are_the_accounts_anvil_prints():
    printed = _accounts_anvil_prints()
    assert len(printed) == 10
    derived = [XpubDeriver(ANVIL_XPUB).derive(i) for i in range(10)]
    assert derived == printed  # both EIP-55 checksummed


def test_first_thousand_addresses_match_eth_account():
    deriver = XpubDeriver(ANVIL_XPUB)
    for i in range(1000):
        expected = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
        assert deriver.derive(i) == expected, i


def test_an_invalid_bip32_tweak_is_left_to_bip_utils():
    """When coincurve refuses the tweak (at or above the curve order: 2**-127 odds), bip_utils' rule applies."""
    deriver = XpubDeriver(ANVIL_XPUB)
    expected = deriver.derive(7)

    class RefusingKey:
        def add(self, tweak):
            raise ValueError("Secret scalar must be greater than 0 and less than the order")

    deriver._branches[0].public = RefusingKey()
    assert deriver.derive(7) == expected  # bip_utils derived it (its own tweak is valid)


def test_gas_tank_path_is_on_the_change_branch():
    tank = XpubDeriver(ANVIL_XPUB).derive_path("m/44'/60'/0'/1/0")
    assert tank == Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/1/0").address
    assert tank not in {XpubDeriver(ANVIL_XPUB).derive(i) for i in range(100)}


def test_signer_keys_belong_to_the_derived_addresses():
    signer, deriver = MnemonicSigner(ANVIL_MNEMONIC), XpubDeriver(ANVIL_XPUB)
    for i in (0, 7, 123):
        assert Account.from_key(signer.private_key(i)).address == deriver.derive(i)
    assert Account.from_key(signer.private_key_for_path("m/44'/60'/0'/1/0")).address == \
        deriver.derive_path("m/44'/60'/0'/1/0")


@pytest.mark.parametrize("bad, reason", [
    ("not-an-xpub", "not a valid extended public key"),
    ("", "not a valid extended public key"),
])
def test_bad_xpub_is_refused_with_a_clear_reason(bad, reason):
    with pytest.raises(WalletError, match=reason):
        XpubDeriver(bad)


def test_private_extended_key_is_refused_as_xpub():
    from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

    xprv = Bip44.FromSeed(Bip39SeedGenerator(ANVIL_MNEMONIC).Generate(), Bip44Coins.ETHEREUM) \
        .Purpose().Coin().Account(0).PrivateKey().ToExtended()
    with pytest.raises(WalletError, match="holds a private key") as err:
        XpubDeriver(xprv)
    assert xprv not in str(err.value)


def test_xpub_at_wrong_depth_is_refused():
    from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

    coin_level = Bip44.FromSeed(Bip39SeedGenerator(ANVIL_MNEMONIC).Generate(), Bip44Coins.ETHEREUM) \
        .Purpose().Coin().PublicKey().ToExtended()
    with pytest.raises(WalletError, match="depth 3"):
        XpubDeriver(coin_level)


def test_bad_mnemonic_error_does_not_echo_the_words():
    words = "test test test test test test test test test test test test"
    with pytest.raises(WalletError) as err:
        MnemonicSigner(words)
    assert "test test" not in str(err.value)
    assert "hidden" in repr(MnemonicSigner(ANVIL_MNEMONIC))


@pytest.mark.parametrize("path", ["m/44'/60'/0'/1", "m/44'/60'/1'/0/0", "1/0", "m/44'/60'/0'/x/0",
                                  "m/44'/60'/0'/1/0\n", "m/44'/60'/0'/1/\u0663"])
def test_only_paths_below_the_account_are_accepted(path):
    with pytest.raises(WalletError):
        split_account_path(path)
