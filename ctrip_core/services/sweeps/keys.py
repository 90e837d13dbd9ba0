"""Signing keys for sweeps, from the mnemonic: the one place a private key is derived, and the
treasuries the sweeper has verified.

Only the sweeper builds a `SweepKeys`; it never logs, stores or repeats a key, and the gas tank's
address is derived from the same mnemonic at the chain's `gas_tank` path (gas_tanks.gas_tank_address,
the one derivation of a tank's address).

Merchant treasuries are read from the database at the start of each pass (`verify_treasuries`) and
believed only when their authorization was signed by the wallet's authorization key
(services/authorizations.py); `treasury_for` is then the one answer to where a deposit sweep goes.
Payouts likewise: `payouts` holds, for this pass, the routes of the payouts whose authorization
verified (services/payouts/authorization.py); a payout's transaction goes nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable

from ctrip_core.config import ChainConfig, ConfigError, Settings
from ctrip_core.db.models import MerchantTreasury, Sweep
from ctrip_core.money import parse_amount
from ctrip_core.services.authorizations import signer_of, treasury_statement
from ctrip_core.services.payouts.authorization import PayoutRoute
from ctrip_core.services.sweeps.gas_tanks import gas_tank_address
from ctrip_core.wallet import AUTHORIZATION_BRANCH, MnemonicSigner, WalletError, XpubDeriver, payout_path

log = logging.getLogger(__name__)
#: `payouts.sent_as`: "<nonce>:<MAC>", the nonce in ASCII digits, the MAC in lower-case hex.
_SENT_AS = re.compile(r"([0-9]{1,20}):([0-9a-f]{64})")


class ForgedRecord(Exception):
    """A `payouts.sent_as` the sweeper did not write for this payout, chain and wallet."""


def signer_from_settings(settings: Settings, needed_by: str) -> MnemonicSigner:
    """The wallet's signer from wallet.mnemonic, which must belong to wallet.xpub when that is set
    (ConfigError naming the key otherwise: `needed_by` says who asked)."""
    if settings.wallet.mnemonic is None:
        raise ConfigError("wallet.mnemonic", f"is not set; {needed_by} needs it (CTRIP_WALLET__MNEMONIC)")
    try:
        signer = MnemonicSigner(settings.wallet.mnemonic.get_secret_value())
    except WalletError as exc:
        raise ConfigError("wallet.mnemonic", str(exc).removeprefix("wallet.mnemonic ")) from None
    if settings.wallet.xpub is not None and signer.xpub() != settings.wallet.xpub.get_secret_value().strip():
        raise ConfigError("wallet.mnemonic", "does not belong to wallet.xpub: deposits would be unsweepable")
    return signer


class SweepKeys:
    def __init__(self, signer: MnemonicSigner, chains: dict[str, ChainConfig],
                 payout_float: dict[str, str] | None = None):
        self._signer = signer
        self._chains = chains
        #: `payouts.payout_float`: asset symbol (upper case) → decimal amount.
        self.payout_float = dict(payout_float or {})
        self._deriver = XpubDeriver(signer.xpub())
        self.authority = self._deriver.derive_at(AUTHORIZATION_BRANCH, 0)
        #: chain → merchant id → its verified treasury, or None when its row does not verify.
        self._treasuries: dict[str, dict[str, str | None]] = {}
        #: chain → payout id → its verified route, for this chain's pass (services/payouts/sending.
        #: verify_payouts). Per chain: the passes of several chains run at once on one SweepKeys.
        self._payouts: dict[str, dict[str, PayoutRoute]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, chains: dict[str, ChainConfig]) -> "SweepKeys":
        """Refuses to start without a mnemonic, a treasury per chain, or when the mnemonic is not wallet.xpub's."""
        signer = signer_from_settings(settings, "the sweeper")
        for name, chain in chains.items():
            if chain.treasury is None:
                raise ConfigError(f"{settings.chains_file}: {name}.treasury", "is required by the sweeper")
        return cls(signer, dict(chains), settings.payouts.payout_float)

    def verify_treasuries(self, chain: str, rows: Iterable[MerchantTreasury]) -> None:
        """Take the chain's merchant treasury rows for this pass, each believed only if its
        authorization verifies (one error line per row that does not: its deposits stay put)."""
        config = self._chains[chain]
        verified: dict[str, str | None] = {}
        for row in rows:
            statement = treasury_statement(row.merchant_id, chain, config.chain_id, row.address)
            if signer_of(statement, row.authorization) == self.authority:
                verified[row.merchant_id] = row.address
            else:
                verified[row.merchant_id] = None
                if self._treasuries.get(chain, {}).get(row.merchant_id, "") is not None:  # said once per change
                    log.error("treasury of merchant %s on %s is not authorized by this wallet (changed in the "
                              "database?): its sweeps are refused; set it again with `ctrip merchant "
                              "set-treasury`", row.merchant_id, chain)
        self._treasuries[chain] = verified

    def treasury_for(self, chain: str, merchant_id: str | None) -> str | None:
        """Where a deposit sweep of `merchant_id` on `chain` goes: its verified treasury, else the chain's
        configured one; None when the merchant has a treasury row that does not verify."""
        if merchant_id is not None and merchant_id in self._treasuries.get(chain, {}):
            return self._treasuries[chain][merchant_id]
        return self._chains[chain].treasury

    def tank_address(self, chain: str) -> str:
        return gas_tank_address(self._deriver, self._chains[chain])

    def tank_key(self, chain: str) -> bytes:
        return self._signer.private_key_for_path(self._chains[chain].gas_tank)

    def deposit_address(self, index: int) -> str:
        """The deposit address of `index`, from the sweeper's own key material (never from a stored row)."""
        return self._deriver.derive(index)

    def deposit_key(self, index: int) -> bytes:
        return self._signer.private_key(index)

    def take_payouts(self, chain: str, routes: dict[str, PayoutRoute]) -> None:
        self._payouts[chain] = dict(routes)

    def payout_route(self, chain: str, payout_id: str | None) -> PayoutRoute | None:
        """The verified route of `payout_id` on `chain` this pass, or None."""
        return self._payouts.get(chain, {}).get(payout_id) if payout_id else None

    def sent_mac(self, chain: str, payout_id: str, wallet: str, nonce: int) -> str:
        """The sweeper's record that it signed `payout_id` on `chain` from `wallet` at `nonce`: an HMAC
        keyed from the mnemonic, so neither the API host nor a database write can make or move one (the
        payout wallet has the same address on every chain: the chain's name and id are in the text)."""
        key = hashlib.sha256(b"ctrip payout sent v1" + self._signer.authorization_key()).digest()
        text = f"{chain}\n{self._chains[chain].chain_id}\n{payout_id}\n{wallet.lower()}\n{nonce}".encode()
        return hmac.new(key, text, hashlib.sha256).hexdigest()

    def sent_nonce(self, chain: str, payout_id: str, wallet: str, sent_as: str | None) -> int | None:
        """The nonce `sent_as` records for this payout, chain and wallet; None when it is empty.
        `ForgedRecord` when it does not verify (written, copied or moved by someone else)."""
        if not sent_as:
            return None
        match = _SENT_AS.fullmatch(sent_as)
        if match is None or not hmac.compare_digest(match[2], self.sent_mac(chain, payout_id, wallet,
                                                                             int(match[1]))):
            raise ForgedRecord(f"payout {payout_id}: its record of being signed does not verify")
        return int(match[1])

    def float_of(self, chain: str, token: str | None) -> int | None:
        """`payouts.payout_float` of the asset (native coin when `token` is None) in base units, or None."""
        asset = self._chains[chain].asset_at(token)
        if asset is None or asset.symbol.upper() not in self.payout_float:
            return None
        return parse_amount(self.payout_float[asset.symbol.upper()], asset.decimals)

    def payout_address(self, merchant_id: str) -> str:
        """The merchant's payout wallet (wallet.payout_path), from the sweeper's own key material."""
        return self._deriver.derive_path(payout_path(merchant_id))

    def payout_key(self, merchant_id: str) -> bytes:
        """The key of the merchant's payout wallet (the caller has verified the payout's route)."""
        return self._signer.private_key_for_path(payout_path(merchant_id))

    def key_for(self, chain: str, sweep: Sweep) -> bytes:
        """The key of the address a deposit sweep or gas top-up on `chain` sends from (a payout's:
        `payout_key` of its verified route)."""
        if sweep.kind == "gas_topup":  # its index is the deposit address it pays
            return self.tank_key(chain)
        return self.deposit_key(sweep.derivation_index)

    def __repr__(self) -> str:
        return "SweepKeys(<keys hidden>)"
