"""Operator authorizations: statements signed by the mnemonic's authorization key, verified by the sweeper.

Where money goes must not be settable by the API host or by a database write. A merchant's own
treasury is therefore stored with a signature (EIP-191 `personal_sign`) of a statement naming the
merchant, the chain, its chain id and the address, made by the key at m/44'/60'/0'/3/0
(`MnemonicSigner.authorization_key`): only who holds the mnemonic (the operator, on the sweeper's
host, with `ctrip merchant set-treasury`) can make one. The sweeper recovers the signer and
compares it with the address its own keys derive; anything else (another address, a statement of
another merchant or chain copied over, a row without a signature) does not verify, and the
sweeper refuses to sign a sweep to it. The API host, which holds only the xpub, can derive the
authority's address but not sign as it.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct

from ctrip_core.chains.types import eip55


def treasury_statement(merchant_id: str, chain: str, chain_id: int, address: str) -> str:
    """The text the operator signs to make `address` the merchant's treasury on `chain`."""
    return (f"ctrip treasury authorization v1\nmerchant: {merchant_id}\nchain: {chain}\n"
            f"chain_id: {chain_id}\naddress: {eip55(address.lower().removeprefix('0x'))}")


def sign_statement(private_key: bytes, statement: str) -> str:
    """The 0x-hex signature of `statement` (EIP-191) by `private_key`."""
    signature = Account.sign_message(encode_defunct(text=statement), private_key).signature.hex()
    return signature if signature.startswith("0x") else "0x" + signature


def signer_of(statement: str, signature: str | None) -> str | None:
    """The EIP-55 address that signed `statement`, or None when `signature` is missing or malformed."""
    if not signature:
        return None
    try:
        return Account.recover_message(encode_defunct(text=statement), signature=signature)
    except Exception:  # noqa: BLE001 - any malformed signature is simply not an authorization
        return None
