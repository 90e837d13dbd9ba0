"""HD wallet: deposit addresses from the account xpub; signing keys from the mnemonic (sweeper only).

Layout (BIP-44, coin type 60): the account is m/44'/60'/0'. Deposit address i is
m/44'/60'/0'/0/i (external branch); the gas tank defaults to m/44'/60'/0'/1/0 (change branch),
so it is never a deposit address. Branch 2 holds merchants' payout wallets (`payout_path`: the
index comes from the merchant id, so no database row decides which key pays out); the operator's authorization key, which signs merchant treasuries
(services/authorizations.py), is m/44'/60'/0'/3/0. All branches are non-hardened below the
account, which is why the API and scanner need only the account xpub and never a private key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from bip_utils import Bip32Secp256k1, Bip39MnemonicValidator, Bip39SeedGenerator, Bip44, Bip44Coins, EthAddrEncoder
from coincurve import PublicKey
from eth_hash.auto import keccak

from ctrip_core.chains.types import eip55

ACCOUNT_PATH = "m/44'/60'/0'"
DEPOSIT_BRANCH = 0
#: The branches below the account cTrip derives: deposits, change (gas tanks), payout wallets, authorization.
BRANCHES = (0, 1, 2, 3)
PAYOUT_BRANCH = 2
AUTHORIZATION_BRANCH = 3
_RELATIVE_PATH = re.compile(r"m/44'/60'/0'/([0-9]+)/([0-9]+)")


def payout_index(merchant_id: str) -> int:
    """The index on branch 2 of `merchant_id`'s payout wallet: the low 31 bits of
    SHA-256("ctrip payout wallet:" + id). `create_merchant` draws another id while the index is
    already another merchant's, so two merchants never share a payout wallet."""
    digest = hashlib.sha256(b"ctrip payout wallet:" + merchant_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def payout_path(merchant_id: str) -> str:
    """`m/44'/60'/0'/2/<payout_index>`: one address, the same on every EVM chain."""
    return f"{ACCOUNT_PATH}/{PAYOUT_BRANCH}/{payout_index(merchant_id)}"


class WalletError(ValueError):
    """A wallet key or path is unusable. Messages never contain key material."""


class AddressDeriver:
    """Base of what the `ctrip_address_deriver` hook returns (the plugin manager refuses anything else)."""

    def derive(self, index: int) -> str:
        """The EIP-55 deposit address for derivation index `index`. Each subclass overrides it."""
        raise NotImplementedError

    def derive_path(self, path: str) -> str | None:
        """The address at a full path below the account (a chain's `gas_tank`, m/44'/60'/0'/1/0 by
        default), or None when this deriver has no paths: then nothing checks or shows the gas tank
        from it (preflight, `/ready`, `ctrip wallet gas-tank`). Raises WalletError for a bad path."""
        return None


def split_account_path(path: str) -> tuple[int, int]:
    """`m/44'/60'/0'/B/I` → (B, I); the only paths cTrip derives below the account."""
    match = _RELATIVE_PATH.fullmatch(path)
    if not match:
        raise WalletError(f"path {path!r} must look like {ACCOUNT_PATH}/<branch>/<index>")
    return int(match.group(1)), int(match.group(2))


class XpubDeriver(AddressDeriver):
    """Addresses from the account-level extended public key (m/44'/60'/0').

    Below the cached branch node, a child is BIP-32's public CKD done directly on coincurve (one
    HMAC-SHA512, one tweak-add on secp256k1, one Keccak, then `eip55`, 3x eth_utils' checksum):
    payment creation derives one address per request and bip_utils' general path cost it about
    twice as much. bip_utils still parses and checks the xpub, and takes over in the case BIP-32
    calls invalid (a tweak outside the curve order or a child at infinity, probability below
    2**-127), where it raises.
    """

    def __init__(self, xpub: str):
        try:
            self._account = Bip32Secp256k1.FromExtendedKey(xpub.strip())
        except Exception:  # noqa: BLE001 - bip_utils raises many types; never echo the key
            raise WalletError("wallet.xpub is not a valid extended public key") from None
        if not self._account.IsPublicOnly():
            raise WalletError("wallet.xpub holds a private key; give the account xpub (see `ctrip wallet xpub`)")
        if self._account.Depth().ToInt() != 3:
            raise WalletError("wallet.xpub must be the account-level key m/44'/60'/0' (depth 3)")
        self._branches: dict[int, _Node] = {}

    def _branch(self, branch: int) -> _Node:
        if branch not in self._branches:
            self._branches[branch] = _Node(self._account.ChildKey(branch))
        return self._branches[branch]

    def derive(self, index: int) -> str:
        return self.derive_at(DEPOSIT_BRANCH, index)

    def derive_at(self, branch: int, index: int) -> str:
        if not 0 <= index < 2**31:
            raise WalletError(f"derivation index {index} out of range")
        node = self._branch(branch)
        tweak = hmac.digest(node.chain_code, node.compressed + index.to_bytes(4, "big"), "sha512")[:32]
        try:
            child = node.public.add(tweak)
        except ValueError:
            return EthAddrEncoder.EncodeKey(node.key.ChildKey(index).PublicKey().KeyObject())  # raises
        return eip55(keccak(child.format(compressed=False)[1:])[-20:].hex())

    def derive_path(self, path: str) -> str:
        """Address at a full path below the account, e.g. the gas tank's m/44'/60'/0'/1/0."""
        return self.derive_at(*split_account_path(path))

    def __repr__(self) -> str:
        return "XpubDeriver(<xpub hidden>)"


class _Node:
    """A branch node in the forms public child derivation needs."""

    def __init__(self, key: Bip32Secp256k1):
        self.key = key
        self.compressed = key.PublicKey().RawCompressed().ToBytes()
        self.public = PublicKey(self.compressed)
        self.chain_code = key.ChainCode().ToBytes()


class MnemonicSigner:
    """Private keys from the BIP-39 mnemonic. Only the sweeper constructs one."""

    def __init__(self, mnemonic: str):
        words = " ".join(mnemonic.split())
        if not Bip39MnemonicValidator().IsValid(words):
            raise WalletError("wallet.mnemonic is not a valid BIP-39 mnemonic")
        seed = Bip39SeedGenerator(words).Generate()
        self._account = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)

    def xpub(self) -> str:
        """The account xpub the API side is configured with."""
        return self._account.PublicKey().ToExtended()

    def private_key_at(self, branch: int, index: int) -> bytes:
        if branch not in BRANCHES:
            raise WalletError("only branches 0 (deposits), 1 (change, gas tank), 2 (payout wallets) and "
                              "3 (authorization) are used")
        if not 0 <= index < 2**31:
            raise WalletError(f"derivation index {index} out of range")
        return self._account.Bip32Object().ChildKey(branch).ChildKey(index).PrivateKey().Raw().ToBytes()

    def authorization_key(self) -> bytes:
        """The key that signs operator authorizations (merchant treasuries): m/44'/60'/0'/3/0."""
        return self.private_key_at(AUTHORIZATION_BRANCH, 0)

    def private_key(self, index: int) -> bytes:
        """Key of deposit address `index`."""
        return self.private_key_at(DEPOSIT_BRANCH, index)

    def private_key_for_path(self, path: str) -> bytes:
        return self.private_key_at(*split_account_path(path))

    def __repr__(self) -> str:
        return "MnemonicSigner(<mnemonic hidden>)"


def xpub_from_mnemonic(mnemonic: str) -> str:
    return MnemonicSigner(mnemonic).xpub()
