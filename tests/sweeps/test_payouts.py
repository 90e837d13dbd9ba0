"""Payouts end to end on Anvil: sent from the merchant's payout wallet by the sweeper (in this
process, and as a real process killed with SIGKILL), checked against the chain itself.

Invariants: a payout moves exactly its amount, from its merchant's payout wallet, to its address,
at most once (one nonce), whatever crashes or reorgs; a payout the wallet cannot cover fails with
the reason and signs nothing; a row not sealed by the API, or above the approval threshold without
the operator's signature, moves nothing.
"""

from __future__ import annotations

import dataclasses
import signal
from decimal import Decimal
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text

from ctrip_core.config import ChainConfig
from ctrip_core.config.settings import PayoutSettings
from ctrip_core.services.errors import Conflict
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.db.models import Event, Payout, Sweep
from ctrip_core.services.payouts.requests import PayoutRequest, create_batch, create_payout
from ctrip_core.services.payouts.authorization import PayoutRoute
from ctrip_core.services.sweeps.keys import ForgedRecord, SweepKeys
from ctrip_core.services.sweeps.signing import Refused, check_route
from ctrip_core.services.webhooks.secret_box import SecretBox
from sweep_support import ETH, TOKEN_DECIMALS, close_gateway, finish, open_gateway
from testbed import TEST_SECRET_KEY, new_merchant

pytestmark = pytest.mark.timeout(120)
CTRIP = Path(sys.executable).parent / "ctrip"
TUSD = 10**TOKEN_DECIMALS


@pytest_asyncio.fixture(scope="module")
async def gw(node, tusd, tmp_path_factory):
    g = await open_gateway(tmp_path_factory.mktemp("payouts"), node.rpc_url, tusd,
                           payouts={"approval_above": {"ETH": "1"}, "daily_limit": {"tusd": "20"},
                                    "payout_float": {"ETH": "0.5"}})
    yield g
    await close_gateway(g)


def payee(n: int) -> str:
    return "0x00bee" + f"{n:035d}"  # not a precompile


def chains(gw) -> dict[str, ChainConfig]:
    return gw.rt.chain_configs()


async def ask(gw, asset: str, amount: str, to: str, merchant_id: str | None = None, settings=None) -> Payout:
    """POST /v1/payouts as the API does it: validated and sealed with secret_key."""
    async with gw.rt.sessions() as s, s.begin():
        return await create_payout(s, settings or gw.rt.settings, chains(gw), SecretBox(TEST_SECRET_KEY),
                                   merchant_id or gw.merchant_id, PayoutRequest(gw.chain, asset, to, amount))


async def reload(gw, payout_id: str) -> Payout:
    async with gw.rt.sessions() as s:
        return await s.get(Payout, payout_id)


async def sweep_of(gw, payout: Payout) -> Sweep:
    async with gw.rt.sessions() as s:
        return await s.get(Sweep, payout.sweep_id)


async def events(gw, payout_id: str) -> list[str]:
    async with gw.rt.sessions() as s:
        rows = await s.scalars(select(Event).where(Event.type.like("payout.%")).order_by(Event.seq))
        return [e.type for e in rows if e.payload["data"]["id"] == payout_id]


def fund(gw, wallet: str, eth: int = 0, tusd: int = 0) -> None:
    sent = ([gw.send(wallet, "ETH", eth)] if eth else []) + ([gw.send(wallet, "TUSD", tusd)] if tusd else [])
    gw.funder.wait(sent)


async def test_native_and_token_payouts_move_exactly_their_amount_once(gw):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, eth=ETH // 2, tusd=50 * TUSD)
    native = await ask(gw, "ETH", "0.1", payee(1))
    token = await ask(gw, "TUSD", "12.5", payee(2))
    assert (native.status, token.status) == ("pending", "pending")
    before = gw.rpc.balance(wallet)

    await gw.sweep_until_quiet()
    native, token = await reload(gw, native.id), await reload(gw, token.id)
    assert (native.status, token.status) == ("succeeded", "succeeded"), native.failure_reason
    assert gw.rpc.balance(payee(1)) == ETH // 10  # the chain agrees: exactly the amount, to that address
    assert gw.rpc.token_balance(gw.token, payee(2)) == 12_500_000
    assert gw.rpc.token_balance(gw.token, wallet) == 50 * TUSD - 12_500_000
    n, t = await sweep_of(gw, native), await sweep_of(gw, token)
    assert (n.from_address, t.from_address) == (wallet, wallet)
    assert before - gw.rpc.balance(wallet) == ETH // 10 + gw.rpc.fee(n.tx_hash) + gw.rpc.fee(t.tx_hash)
    assert gw.rpc.nonce(wallet) == 2  # two payouts, two transactions, nothing else
    assert await events(gw, native.id) == ["payout.created", "payout.succeeded"]


async def test_a_batch_is_sent_one_transaction_per_payout_in_order(gw):
    merchant = (await new_merchant(gw.rt, "batcher"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    items = [PayoutRequest(gw.chain, "ETH", payee(20 + n), f"0.00{n}") for n in (1, 2, 3)]
    async with gw.rt.sessions() as s, s.begin():
        batch_id, made = await create_batch(s, gw.rt.settings, chains(gw), SecretBox(TEST_SECRET_KEY), merchant, items)
    assert batch_id.startswith("pob_") and {p.batch_id for p in made} == {batch_id}
    await gw.sweep_until_quiet()
    sweeps = [await sweep_of(gw, await reload(gw, p.id)) for p in made]
    assert [s.nonce for s in sweeps] == [0, 1, 2] and gw.rpc.nonce(wallet) == 3
    assert [gw.rpc.balance(payee(20 + n)) for n in (1, 2, 3)] == [ETH // 1000, 2 * ETH // 1000, 3 * ETH // 1000]


async def test_a_payout_the_wallet_cannot_cover_fails_with_the_reason_then_one_funded_succeeds(gw):
    merchant = (await new_merchant(gw.rt, "poor"))[0]
    wallet = gw.keys.payout_address(merchant)
    short = await ask(gw, "TUSD", "3", payee(3), merchant)
    await gw.sweep_until_quiet()
    short = await reload(gw, short.id)
    assert short.status == "failed" and short.failure_reason.startswith("insufficient_balance")
    assert short.sweep_id is None and gw.rpc.nonce(wallet) == 0  # nothing signed

    fund(gw, wallet, tusd=5 * TUSD)  # tokens but no gas
    no_gas = await ask(gw, "TUSD", "3", payee(3), merchant)
    await gw.sweep_until_quiet()
    assert (await reload(gw, no_gas.id)).failure_reason.startswith("insufficient_gas")

    fund(gw, wallet, eth=ETH // 100)
    paid = await ask(gw, "TUSD", "3", payee(3), merchant)
    await gw.sweep_until_quiet()
    assert (await reload(gw, paid.id)).status == "succeeded"
    assert gw.rpc.token_balance(gw.token, payee(3)) == 3 * TUSD and gw.rpc.nonce(wallet) == 1
    assert "payout.failed" in await events(gw, short.id)


async def test_two_merchants_pay_out_of_their_own_wallets_only(gw):
    other = (await new_merchant(gw.rt, "other"))[0]
    mine, theirs = gw.keys.payout_address(gw.merchant_id), gw.keys.payout_address(other)
    fund(gw, theirs, eth=ETH // 10)
    mine_before = gw.rpc.balance(mine)
    p = await ask(gw, "ETH", "0.05", payee(4), other)
    await gw.sweep_until_quiet()
    assert (await sweep_of(gw, await reload(gw, p.id))).from_address == theirs
    assert gw.rpc.balance(mine) == mine_before and gw.rpc.balance(payee(4)) == ETH // 20


async def test_a_payout_into_a_deposit_address_pays_that_payment(gw):
    payer_merchant, shop = (await new_merchant(gw.rt, "payer"))[0], (await new_merchant(gw.rt, "shop"))[0]
    fund(gw, gw.keys.payout_address(payer_merchant), eth=ETH // 10)
    async with gw.rt.sessions() as s, s.begin():
        invoice = await create_payment(gw.rt, shop, PaymentRequest(gw.chain, "ETH", "0.05"), within=s)
    await ask(gw, "ETH", "0.05", invoice.address, payer_merchant)
    await gw.sweep_until_quiet()
    await gw.sync()
    assert (await gw.reload(invoice.id)).status == "confirmed"  # not mistaken for the gateway's own sweep
    await gw.sweep_until_quiet()  # and swept like any deposit


async def test_a_payout_written_or_changed_in_the_database_moves_nothing(gw):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, eth=ETH // 10)
    changed = await ask(gw, "ETH", "0.01", payee(5))
    async with gw.rt.sessions() as s, s.begin():  # whoever reaches the database redirects it
        await s.execute(text("UPDATE payouts SET address = :a WHERE id = :i"), {"a": payee(6), "i": changed.id})
        await s.execute(text("INSERT INTO payouts (id, merchant_id, chain, asset, address, amount_base_units, status, "
                             "\"authorization\", created_at, updated_at) SELECT 'po_forged', merchant_id, chain, asset, "
                             ":a, amount_base_units, 'pending', \"authorization\", created_at, updated_at FROM payouts "
                             "WHERE id = :i"), {"a": payee(6), "i": changed.id})
    nonce = gw.rpc.nonce(wallet)
    reports = [await gw.sweep_pass() for _ in range(2)]  # a merchant's oldest unsigned payout each pass
    assert not any(r.broadcast for r in reports) and gw.rpc.nonce(wallet) == nonce and gw.rpc.balance(payee(6)) == 0
    for payout_id in (changed.id, "po_forged"):
        payout = await reload(gw, payout_id)
        assert payout.status == "failed" and "not sealed by the API" in payout.failure_reason


async def test_a_sent_payout_set_back_in_the_database_is_never_paid_again(gw):
    merchant = (await new_merchant(gw.rt, "replayed"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    p = await ask(gw, "ETH", "0.01", payee(30), merchant)
    await gw.sweep_until_quiet()
    assert (await reload(gw, p.id)).status == "succeeded" and gw.rpc.nonce(wallet) == 1

    async with gw.rt.sessions() as s, s.begin():  # "not sent yet", says the database: pay it again
        await s.execute(text("UPDATE payouts SET status = 'pending', sweep_id = NULL WHERE id = :i"), {"i": p.id})
    await gw.sweep_until_quiet()
    assert gw.rpc.nonce(wallet) == 1 and gw.rpc.balance(payee(30)) == ETH // 100  # the sweeper's record says sent

    async with gw.rt.sessions() as s, s.begin():  # ... and its record erased too: nonce 0 is unaccounted for
        await s.execute(text("UPDATE payouts SET sent_as = NULL WHERE id = :i"), {"i": p.id})
    other = await ask(gw, "ETH", "0.02", payee(31), merchant)
    reports = await gw.sweep_until_quiet()
    assert any(k.startswith("payout_wallet_unaccounted:") for r in reports for k in r.waiting)
    assert gw.rpc.nonce(wallet) == 1 and gw.rpc.balance(payee(30)) == ETH // 100 and gw.rpc.balance(payee(31)) == 0
    assert (await reload(gw, other.id)).status == "pending"  # nothing is signed from that wallet any more

    # A version at another nonce than the one recorded is refused (a row's nonce changed to pay twice).
    route = gw.keys.payout_route(gw.chain, other.id)
    forged = Sweep(id="swp_renonced", chain=gw.chain, kind="native", merchant_id=merchant, payout_id=other.id,
                   from_address=wallet, to_address=payee(31), nonce=7, tx_hash="0x" + "ab" * 32)
    gw.keys.take_payouts(gw.chain, {other.id: dataclasses.replace(route, sent_nonce=3)})
    with pytest.raises(Refused, match="not the one the sweeper signed"):
        check_route(gw.rt.chains[gw.chain].config, gw.keys, forged)


async def test_above_the_threshold_a_payout_waits_for_the_operator(gw):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, eth=2 * ETH)
    big = await ask(gw, "ETH", "1.5", payee(7))
    assert big.status == "awaiting_approval"
    async with gw.rt.sessions() as s, s.begin():  # flipped in the database: not an approval
        await s.execute(text("UPDATE payouts SET status = 'pending' WHERE id = :i"), {"i": big.id})
    await gw.sweep_until_quiet()
    assert (await reload(gw, big.id)).status == "awaiting_approval" and gw.rpc.balance(payee(7)) == 0

    done = subprocess.run([str(CTRIP), "payouts", "approve", big.id], capture_output=True, text=True,
                          env=gw.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert big.id in done.stdout and "\tpending\t" in done.stdout
    await gw.sweep_until_quiet()
    assert (await reload(gw, big.id)).status == "succeeded" and gw.rpc.balance(payee(7)) == 3 * ETH // 2
    again = subprocess.run([str(CTRIP), "payouts", "approve", big.id], capture_output=True, text=True,
                           env=gw.env(), timeout=60)
    assert again.returncode == 1 and "is succeeded" in again.stderr and "Traceback" not in again.stderr


async def test_deposits_fill_the_payout_wallet_up_to_its_float_then_go_to_the_treasury(gw):
    merchant = (await new_merchant(gw.rt, "floating"))[0]
    wallet = gw.keys.payout_address(merchant)
    treasury = gw.keys.treasury_for(gw.chain, None)
    sweeps = []
    for amount in ("0.2", "0.4", "0.3"):  # 0 < 0.5: to the wallet; ~0.2 < 0.5: the wallet; ~0.6: the treasury
        async with gw.rt.sessions() as s, s.begin():
            p = await create_payment(gw.rt, merchant, PaymentRequest(gw.chain, "ETH", amount), within=s)
        gw.funder.wait([gw.send(p.address, "ETH", int(Decimal(amount) * ETH))])
        await gw.sync()
        await gw.sweep_until_quiet()
        (sweep,) = await gw.sweeps_of(p.address)
        sweeps.append(sweep)
    assert [s.to_address for s in sweeps] == [wallet, wallet, treasury]
    assert gw.rpc.balance(wallet) == sweeps[0].amount_base_units + sweeps[1].amount_base_units  # the chain agrees
    assert gw.rpc.balance(wallet) >= ETH // 2  # at or above the float once filled

    # A sweep row pointed at another merchant's payout wallet (or at its own, for a token without a
    # float) is refused before anything is signed.
    other = gw.keys.payout_address(gw.merchant_id)
    forged = Sweep(id="swp_forged", chain=gw.chain, kind="native", derivation_index=sweeps[0].derivation_index,
                   merchant_id=merchant, from_address=sweeps[0].from_address, to_address=other)
    with pytest.raises(Refused, match="not the treasury"):
        check_route(gw.rt.chains[gw.chain].config, gw.keys, forged)
    forged.kind, forged.token_address, forged.to_address = "token", gw.token, wallet
    with pytest.raises(Refused, match="not the treasury"):
        check_route(gw.rt.chains[gw.chain].config, gw.keys, forged)


async def test_the_daily_limit_is_409_at_the_api_and_held_by_the_sweeper_until_approved(gw):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, tusd=30 * TUSD)
    fits = await ask(gw, "TUSD", "7.5", payee(12))  # 12.5 TUSD paid out today already: 20 in all
    with pytest.raises(Conflict, match="over payouts.daily_limit of 20 TUSD"):
        await ask(gw, "TUSD", "0.000001", payee(12))
    await gw.sweep_until_quiet()
    assert (await reload(gw, fits.id)).status == "succeeded"

    # An API host without the limit (or ignoring it): the sweeper counts what it signed and holds it.
    unlimited = gw.rt.settings.model_copy(update={"payouts": PayoutSettings()})
    past = await ask(gw, "TUSD", "1", payee(13), settings=unlimited)
    await gw.sweep_until_quiet()
    assert (await reload(gw, past.id)).status == "awaiting_approval"
    assert gw.rpc.token_balance(gw.token, payee(13)) == 0
    done = subprocess.run([str(CTRIP), "payouts", "approve", past.id], capture_output=True, text=True,
                          env=gw.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    await gw.sweep_until_quiet()
    assert (await reload(gw, past.id)).status == "succeeded" and gw.rpc.token_balance(gw.token, payee(13)) == TUSD


async def test_a_succeeded_payout_removed_by_a_reorg_is_sent_again_never_twice(gw):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, eth=ETH // 10)
    p = await ask(gw, "ETH", "0.02", payee(8))
    await gw.sweep_until_quiet()
    sweep = await sweep_of(gw, await reload(gw, p.id))
    signed, nonce = sweep.tx_hash, gw.rpc.nonce(wallet)

    gw.rpc("anvil_reorg", 1, [])  # its block is replaced by an empty one: the payout is gone from the chain
    assert gw.rpc.receipt(signed) is None and gw.rpc.balance(payee(8)) == 0
    await gw.sweep_pass()
    assert (await reload(gw, p.id)).status in ("submitted", "succeeded")
    await gw.sweep_until_quiet()
    assert (await reload(gw, p.id)).status == "succeeded"
    assert (await sweep_of(gw, await reload(gw, p.id))).tx_hash == signed  # the same bytes, sent again
    assert gw.rpc.balance(payee(8)) == ETH // 50 and gw.rpc.nonce(wallet) == nonce
    assert await events(gw, p.id) == ["payout.created", "payout.succeeded", "payout.succeeded"]  # again when done again


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_sweeper_killed_between_record_and_broadcast_pays_exactly_once(gw, when):
    wallet = gw.keys.payout_address(gw.merchant_id)
    fund(gw, wallet, eth=ETH // 10)
    to = payee(10 if when == "before" else 11)
    p = await ask(gw, "ETH", "0.03", to)
    nonce = gw.rpc.nonce(wallet)
    code, _, err = finish(gw.start_sweeper(crash=f"{when}:1"))
    assert code == -signal.SIGKILL, err[-2000:]
    recorded = await reload(gw, p.id)
    assert recorded.sweep_id is not None and recorded.status == "pending"  # recorded before it left
    assert gw.rpc.balance(to) == (3 * ETH // 100 if when == "after" else 0)

    await gw.sweep_until_quiet()
    assert (await reload(gw, p.id)).status == "succeeded"
    assert gw.rpc.balance(to) == 3 * ETH // 100 and gw.rpc.nonce(wallet) == nonce + 1  # one transaction
    async with gw.rt.sessions() as s:
        assert len(list(await s.scalars(select(Sweep).where(Sweep.payout_id == p.id)))) == 1


def two_chain_keys(gw) -> SweepKeys:
    """The gateway's keys on its chain and on a second one (another id): the payout wallet is the same
    address on both."""
    config = gw.rt.chains[gw.chain].config
    return SweepKeys(gw.keys._signer, {gw.chain: config, "other": config.model_copy(update={"name": "other",
                                                                                              "chain_id": 10})})


async def test_the_record_of_a_signed_payout_binds_its_chain_and_refuses_anything_malformed(gw):
    keys = two_chain_keys(gw)
    wallet = keys.payout_address(gw.merchant_id)
    record = f"3:{keys.sent_mac(gw.chain, 'po_1', wallet, 3)}"
    assert keys.sent_nonce(gw.chain, "po_1", wallet, record) == 3 and keys.sent_nonce(gw.chain, "po_1", wallet, "") is None
    mac = record.partition(":")[2]
    for forged in (f"3:{keys.sent_mac('other', 'po_1', wallet, 3)}",  # moved from another chain
                   f"4:{mac}", f"²:{mac}", f"3:{mac.upper()}", f"3:{'é' * 64}", f" 3:{mac}", f"3:{mac}\n", "3",
                   f"{'9' * 21}:{mac}"):
        with pytest.raises(ForgedRecord):
            keys.sent_nonce(gw.chain, "po_1", wallet, forged)
    with pytest.raises(ForgedRecord):  # a record is the payout's, not another's
        keys.sent_nonce(gw.chain, "po_2", wallet, record)

    # A payout sweep row naming another chain than the pass's is refused before anything is read.
    route = PayoutRoute(payout_id="po_1", merchant_id=gw.merchant_id, address=payee(40), token_address=None,
                        amount=1)
    keys.take_payouts(gw.chain, {"po_1": route})
    row = Sweep(id="swp_elsewhere", chain="other", kind="native", merchant_id=gw.merchant_id, payout_id="po_1",
                from_address=wallet, to_address=payee(40))
    with pytest.raises(Refused, match="not authorized"):
        check_route(gw.rt.chains[gw.chain].config, keys, row)


async def test_a_record_moved_from_another_chain_or_forged_accounts_for_no_nonce(gw):
    """The payout wallet has one address on every chain: a record of another chain (or a forged one)
    must not account for this chain's nonce 0, else clearing the record of the payout sent at 0 has
    it signed again."""
    merchant = (await new_merchant(gw.rt, "moved"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    p = await ask(gw, "ETH", "0.01", payee(41), merchant)
    await gw.sweep_until_quiet()
    assert (await reload(gw, p.id)).status == "succeeded" and gw.rpc.nonce(wallet) == 1
    async with gw.rt.sessions() as s, s.begin():  # "not sent", and its record erased
        await s.execute(text("UPDATE payouts SET status = 'pending', sweep_id = NULL, sent_as = NULL WHERE id = :i"),
                        {"i": p.id})
        await s.execute(text("INSERT INTO payouts (id, merchant_id, chain, asset, address, amount_base_units, status, "
                             "\"authorization\", created_at, updated_at) SELECT 'po_moved', merchant_id, chain, asset, "
                             "address, amount_base_units, 'succeeded', \"authorization\", created_at, updated_at "
                             "FROM payouts WHERE id = :i"), {"i": p.id})
    other = two_chain_keys(gw)
    for moved in (f"0:{other.sent_mac('other', 'po_moved', wallet, 0)}",  # a record of another chain, moved here
                  "0:" + "0" * 64, "²:" + "a" * 64, "0:" + "é" * 64):  # or forged
        async with gw.rt.sessions() as s, s.begin():
            await s.execute(text("UPDATE payouts SET sent_as = :f WHERE id = 'po_moved'"), {"f": moved})
        report = await gw.sweep_pass()
        assert not report.errors, report
        assert f"payout_wallet_unaccounted:{wallet}" in report.waiting, (moved, report)
        assert gw.rpc.nonce(wallet, "pending") == 1 and gw.rpc.balance(payee(41)) == ETH // 100  # paid once
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("DELETE FROM payouts WHERE id IN ('po_moved', :i)"), {"i": p.id})


async def test_a_malformed_record_does_not_stop_the_chains_deposit_sweeps(gw):
    merchant = (await new_merchant(gw.rt, "malformed"))[0]
    fund(gw, gw.keys.payout_address(merchant), eth=ETH // 10)
    stuck = await ask(gw, "ETH", "0.01", payee(42), merchant)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE payouts SET sent_as = :f WHERE id = :i"), {"f": "²:" + "é" * 64, "i": stuck.id})
    p = await gw.paid("ETH", ETH // 100)
    reports = await gw.sweep_until_quiet()
    assert not any(r.errors for r in reports), reports
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done"  # the deposit is swept
    assert (await reload(gw, stuck.id)).status == "pending" and gw.rpc.balance(payee(42)) == 0  # that one is not


async def test_an_open_payout_sweep_without_a_merchant_does_not_stop_other_payouts(gw):
    merchant = (await new_merchant(gw.rt, "unblocked"))[0]
    fund(gw, gw.keys.payout_address(merchant), eth=ETH // 10)
    async with gw.rt.sessions() as s, s.begin():  # a row with no merchant: NOT IN (…, NULL) would match nothing
        s.add(Sweep(id="swp_orphan", chain=gw.chain, kind="native", state="pending", merchant_id=None,
                    payout_id="po_orphan", from_address=payee(43), to_address=payee(44), amount_base_units=1))
    p = await ask(gw, "ETH", "0.01", payee(45), merchant)
    for _ in range(4):  # (never quiet: that row stays pending)
        await gw.sweep_pass()
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("DELETE FROM sweeps WHERE id = 'swp_orphan'"))
    assert (await reload(gw, p.id)).status == "succeeded" and gw.rpc.balance(payee(45)) == ETH // 100


async def test_a_signed_payout_refused_for_want_of_funds_waits_and_its_nonce_is_never_reused(gw):
    merchant = (await new_merchant(gw.rt, "unfunded"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    first = await ask(gw, "ETH", "0.05", payee(46), merchant)
    code, _, err = finish(gw.start_sweeper(crash="before:1"))  # signed and recorded, never sent
    assert code == -signal.SIGKILL, err[-2000:]
    gw.rpc.set_balance(wallet, ETH // 100)  # its funds gone before it is sent
    second = await ask(gw, "ETH", "0.001", payee(47), merchant)
    for _ in range(3):
        await gw.sweep_pass()
    first, second = await reload(gw, first.id), await reload(gw, second.id)
    sweep = await sweep_of(gw, first)
    assert first.status == "pending" and sweep.state == "pending" and "insufficient funds" in sweep.error.lower()
    assert second.status == "pending" and second.sweep_id is None  # the wallet is busy: nothing else signed
    assert gw.rpc.nonce(wallet, "pending") == 0

    gw.rpc.set_balance(wallet, ETH // 10)  # funded: the same bytes go, then the next payout
    await gw.sweep_until_quiet()
    first, second = await reload(gw, first.id), await reload(gw, second.id)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert (await sweep_of(gw, first)).tx_hash == sweep.tx_hash and (await sweep_of(gw, second)).nonce == 1
    assert gw.rpc.balance(payee(46)) == ETH // 20 and gw.rpc.balance(payee(47)) == ETH // 1000
    assert gw.rpc.nonce(wallet) == 2


async def test_a_signed_payout_failed_in_the_database_keeps_its_nonce(gw):
    """Its bytes can still be broadcast by whoever read them: the next payout never takes its nonce,
    so each is paid at most once."""
    merchant = (await new_merchant(gw.rt, "refailed"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    first = await ask(gw, "ETH", "0.02", payee(48), merchant)
    code, _, err = finish(gw.start_sweeper(crash="before:1"))
    assert code == -signal.SIGKILL, err[-2000:]
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE sweeps SET state = 'failed' WHERE payout_id = :i"), {"i": first.id})
        await s.execute(text("UPDATE payouts SET status = 'failed' WHERE id = :i"), {"i": first.id})
    raw = (await sweep_of(gw, await reload(gw, first.id))).raw_tx
    second = await ask(gw, "ETH", "0.003", payee(49), merchant)
    await gw.sweep_pass()
    signed = await sweep_of(gw, await reload(gw, second.id))
    assert signed.nonce == 1  # not 0, which the first payout's bytes hold
    gw.rpc("eth_sendRawTransaction", raw)  # someone who read the database sends them
    gw.rpc("anvil_mine", 2)
    await gw.sweep_until_quiet()
    assert (await reload(gw, second.id)).status == "succeeded"
    assert gw.rpc.balance(payee(48)) == ETH // 50 and gw.rpc.balance(payee(49)) == 3 * ETH // 1000
    assert gw.rpc.nonce(wallet) == 2


# --- after the third review: what a database write and a lying node could still do ---------------

async def test_a_version_the_sweeper_never_signed_is_never_replaced(gw):
    """A sweep row written for an unsigned payout (no hash; or a hash and a nonce of the writer's
    choosing), which a lying node would have the tracker "replace": nothing is signed, at any nonce."""
    from ctrip_core.services.sweeps.tracking import SweepReport, _replace

    merchant = (await new_merchant(gw.rt, "unreplaced"))[0]
    wallet = gw.keys.payout_address(merchant)
    p = await ask(gw, "ETH", "0.01", payee(50), merchant)
    gw.keys.take_payouts(gw.chain, {p.id: PayoutRoute(p.id, merchant, None, payee(50), ETH // 100, gw.chain)})
    chain, ripe = gw.rt.chains[gw.chain], int(gw.rpc("eth_blockNumber"), 16)
    for tx_hash, nonce in ((None, 1), ("0x" + "cd" * 32, 5)):
        forged = Sweep(id=f"swp_forged{nonce}", chain=gw.chain, kind="native", state="submitted", merchant_id=merchant,
                       payout_id=p.id, from_address=wallet, to_address=payee(50), nonce=nonce, tx_hash=tx_hash,
                       raw_tx="0x00", gas_limit=21000, gas_price=10**9)
        report = SweepReport()
        async with gw.rt.sessions() as s:
            assert await _replace(chain, gw.keys, s, forged, 10, ripe, report) is False
        says = "nothing to replace" if tx_hash is None else "not the one the sweeper signed (nonce None)"
        assert says in forged.error and forged.raw_tx == "0x00" and forged.tx_hash == tx_hash
    assert gw.rpc.nonce(wallet, "pending") == 0


async def test_a_row_with_a_hash_that_is_not_one_stops_no_other_sweep(gw):
    async with gw.rt.sessions() as s, s.begin():
        s.add(Sweep(id="swp_badhash", chain=gw.chain, kind="native", state="submitted", from_address=payee(51),
                    to_address=payee(52), nonce=0, tx_hash="0xnot-a-hash", raw_tx="0x00", amount_base_units=1,
                    derivation_index=10**6))
    p = await gw.paid("ETH", ETH // 100)
    reports = [await gw.sweep_pass() for _ in range(4)]  # (never quiet: that row stays open)
    async with gw.rt.sessions() as s, s.begin():
        await s.execute(text("DELETE FROM sweeps WHERE id = 'swp_badhash'"))
    (sweep,) = await gw.sweeps_of(p.address)
    assert sweep.state == "done"  # the deposit is swept, pass after pass
    assert any("swp_badhash" in e for r in reports for e in r.errors)  # and the bad row is named


async def test_a_node_answering_a_huge_nonce_costs_no_loop():
    from ctrip_core.services.payouts.sending import _unaccounted

    class Node:
        def __init__(self, used: int):
            self.used = used

        async def get_transaction_count(self, address: str, block: str) -> int:
            return self.used

    assert await _unaccounted(Node(2**64), "0xwallet", {0, 1, 2}) == [3]  # at once, not 2**64 steps
    assert await _unaccounted(Node(3), "0xwallet", {0, 1, 2}) == []
    assert await _unaccounted(Node(3), "0xwallet", {0, 2}) == [1]
    assert await _unaccounted(Node(2), "0xwallet", set()) == [0]
    assert await _unaccounted(Node(0), "0xwallet", set()) == []


async def test_a_stopped_wallets_payouts_do_not_take_the_batch_from_other_merchants(gw, monkeypatch):
    stopped = (await new_merchant(gw.rt, "stopped"))[0]
    wallet = gw.keys.payout_address(stopped)
    fund(gw, wallet, eth=ETH // 10)
    sent = await ask(gw, "ETH", "0.001", payee(53), stopped)
    await gw.sweep_until_quiet()
    async with gw.rt.sessions() as s, s.begin():  # its record erased: nonce 0 unaccounted, the wallet stops
        await s.execute(text("UPDATE payouts SET sent_as = NULL WHERE id = :i"), {"i": sent.id})
    held = [await ask(gw, "ETH", "0.001", payee(54), stopped) for _ in range(3)]
    other = (await new_merchant(gw.rt, "unstarved"))[0]
    fund(gw, gw.keys.payout_address(other), eth=ETH // 10)
    p = await ask(gw, "ETH", "0.002", payee(55), other)
    async with gw.rt.sessions() as s:  # merchants with older unsigned payouts (earlier tests'), one slot each
        older = await s.scalar(select(func.count(func.distinct(Payout.merchant_id))).where(
            Payout.status == "pending", Payout.sweep_id.is_(None), Payout.merchant_id.not_in([stopped, other])))
    settings = gw.rt.settings
    monkeypatch.setattr(gw.rt, "settings", settings.model_copy(update={  # 3 held payouts would fill it
        "sweeps": settings.sweeps.model_copy(update={"batch": older + 2})}))
    await gw.sweep_until_quiet()
    assert (await reload(gw, p.id)).status == "succeeded" and gw.rpc.balance(payee(55)) == 2 * ETH // 1000
    assert {(await reload(gw, h.id)).status for h in held} == {"pending"} and gw.rpc.nonce(wallet) == 1


async def test_a_signed_payout_whose_row_is_set_back_and_broken_is_never_failed(gw):
    """Failed, its refund room or daily limit would be free again while its bytes can still be mined."""
    merchant = (await new_merchant(gw.rt, "unfailed"))[0]
    wallet = gw.keys.payout_address(merchant)
    fund(gw, wallet, eth=ETH // 10)
    p = await ask(gw, "ETH", "0.004", payee(56), merchant)
    code, _, err = finish(gw.start_sweeper(crash="before:1"))  # signed and recorded, never sent
    assert code == -signal.SIGKILL, err[-2000:]
    assert (await reload(gw, p.id)).sent_as is not None
    async with gw.rt.sessions() as s, s.begin():  # "not sent", and its seal broken: the sweeper would refuse it
        await s.execute(text("UPDATE payouts SET status = 'pending', sweep_id = NULL, amount_base_units = '1' "
                             "WHERE id = :i"), {"i": p.id})
    for _ in range(3):
        await gw.sweep_pass()
    assert (await reload(gw, p.id)).status != "failed" and "payout.failed" not in await events(gw, p.id)
    assert gw.rpc.balance(payee(56)) == 4 * ETH // 1000 and gw.rpc.nonce(wallet) == 1  # its bytes, once
