"""What makes a payout sendable, checked by the sweeper on every pass before it signs anything.

A payout's destination is the merchant's choice, made through the API: the API host can ask for
one, by design. What it must not be is a database write. So:

- **the API's seal**: when a payout is created the API seals its statement (id, merchant, chain,
  token, address, amount) with `secret_key` (`SecretBox`, authenticated encryption). A row
  inserted or changed by whoever reaches the database without `secret_key` does not open to its
  own statement, and is refused.
- **the operator's approval**: above `payouts.approval_above` (per asset) a payout also needs the
  signature of its statement by the wallet's authorization key (`ctrip payouts approve`, which
  needs the mnemonic): not even the API host can send that much alone.

`verified_routes` is the one place both are checked; the sweeper signs a payout only along the
route it returns (services/sweeps/signing.py).
"""

from __future__ import annotations

import hmac
import logging
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from collections.abc import Iterable
from dataclasses import dataclass

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import Payout
from ctrip_core.services.authorizations import signer_of
from ctrip_core.services.webhooks.secret_box import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PayoutRoute:
    """A payout as verified this pass: who pays (the merchant's payout wallet), whom, what and how much."""

    payout_id: str
    merchant_id: str
    token_address: str | None
    address: str
    amount: int
    chain: str = ""
    #: The nonce it was signed at, from the sweeper's verified record (`Payout.sent_as`); None: not
    #: signed yet. A version of it may be signed at that nonce only.
    sent_nonce: int | None = None


def payout_statement(payout: Payout) -> str:
    """The text the API seals, and the operator signs for an approval."""
    return (f"ctrip payout v1\nid: {payout.id}\nmerchant: {payout.merchant_id}\n"
            f"refund of: {payout.payment_id or '-'}\nchain: {payout.chain}\n"
            f"asset: {payout.asset}\ntoken: {payout.token_address or 'native'}\naddress: {payout.address}\n"
            f"amount: {payout.amount_base_units}")


def approval_statement(payout: Payout) -> str:
    return "ctrip payout approval v1\n" + payout_statement(payout)


def sealed_by_api(box: SecretBox, payout: Payout) -> bool:
    try:
        opened = box.open(payout.authorization or "")
    except ValueError:
        return False
    return hmac.compare_digest(opened.encode(), payout_statement(payout).encode())


def approved(payout: Payout, authority: str) -> bool:
    return signer_of(approval_statement(payout), payout.approval) == authority


def asset_limit(limits: dict[str, str], chain: ChainConfig, asset: str) -> int | None:
    """`limits[asset]` (`payouts.approval_above` or `payouts.daily_limit`) in base units, rounded
    down to the asset's decimals ("0" is a limit of 0); None: no limit."""
    limit = limits.get(asset.upper())  # keyed in upper case (PayoutSettings: a decimal string)
    config = chain.asset(asset)
    if limit is None or config is None:
        return None
    with localcontext(Context(prec=100, rounding=ROUND_FLOOR)):
        return int((Decimal(limit) * 10**config.decimals).to_integral_value())


def needs_approval(approval_above: dict[str, str], chain: ChainConfig, payout: Payout) -> bool:
    limit = asset_limit(approval_above, chain, payout.asset)
    return limit is not None and payout.amount_base_units > limit


def judge(payout: Payout, box: SecretBox, authority: str, chain: ChainConfig,
          approval_above: dict[str, str]) -> PayoutRoute | str:
    """The payout's route when it may be sent; else why not: "awaiting_approval" (above the
    threshold, not approved by the operator) or "refused: …" (not the API's, or an asset the chain
    does not configure)."""
    asset = chain.asset(payout.asset) if payout.chain == chain.name else None
    token = getattr(asset, "address", None)
    if asset is None or (token or "").lower() != (payout.token_address or "").lower():
        return f"refused: {payout.asset} on {payout.chain} is not an asset of {chain.name}'s configuration"
    if not sealed_by_api(box, payout):
        return "refused: not sealed by the API with secret_key (written in the database by someone else?)"
    if needs_approval(approval_above, chain, payout) and not approved(payout, authority):
        return "awaiting_approval"
    return PayoutRoute(payout.id, payout.merchant_id, token, payout.address, payout.amount_base_units,
                       chain.name)


def verified_routes(payouts: Iterable[Payout], box: SecretBox, authority: str, chain: ChainConfig,
                    approval_above: dict[str, str]) -> dict[str, PayoutRoute]:
    """payout id → its route, for each payout `judge` lets through; the others are left out (one line
    each): the sweeper signs nothing for them."""
    routes: dict[str, PayoutRoute] = {}
    for payout in payouts:
        verdict = judge(payout, box, authority, chain, approval_above)
        if isinstance(verdict, PayoutRoute):
            routes[payout.id] = verdict
        else:
            log.error("payout %s is not sent: %s", payout.id, verdict)
    return routes
