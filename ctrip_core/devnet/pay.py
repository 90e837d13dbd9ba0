"""`ctrip dev pay`: pay a payment from Anvil's first dev account, as a customer's wallet would."""

from __future__ import annotations

from pathlib import Path

import httpx

from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.dev import DevState
from ctrip_core.devnet.token import send_native, transfer
from ctrip_core.money import parse_amount
from ctrip_core.services.payments.payment_state import FINAL_STATUSES


class PayError(Exception):
    """Why a dev payment was not sent."""


def pay(state_dir: Path, payment_id: str, amount: str | None = None, *, partial: bool = False,
        late: bool = False) -> tuple[str, int, str, str]:
    """Send the payment's amount (or `amount`, or half with `partial`); → (tx hash, base units, asset, address)."""
    state = DevState.load(state_dir)
    if state is None:
        raise PayError("no .ctrip/dev.json here: start `ctrip dev` first (from this directory)")
    resp = httpx.get(f"{state.api_url}/v1/payments/{payment_id}",
                     headers={"Authorization": f"Bearer {state.api_key}"}, timeout=10)
    if resp.status_code != 200:
        raise PayError(f"GET payment answered {resp.status_code}: {resp.text[:200]}")
    payment = resp.json()
    if payment["status"] in FINAL_STATUSES and not late:
        raise PayError(f"payment is {payment['status']}; pass --late to pay it anyway")
    # an open payment is owed in a currency: pay its first option (what its payment_uri asks), in that asset
    asset = next((o for o in payment["options"] if o["chain"] in state.chains), None) if payment.get("options") \
        else payment
    if asset is None:
        raise PayError("none of this open payment's options is on a chain of this `ctrip dev`")
    value = parse_amount(amount, asset["decimals"]) if amount else int(asset["amount_base_units"])
    if partial and not amount:
        value = max(1, value // 2)
    rpc_url = state.chains[asset["chain"]]["rpc_url"]
    if asset["token_address"]:
        tx_hash = transfer(rpc_url, FUNDER_KEY, asset["token_address"], payment["address"], value)
    else:
        tx_hash = send_native(rpc_url, FUNDER_KEY, payment["address"], value)
    return tx_hash, value, asset["asset"], payment["address"]
