"""The payment object costs as few queries as it can: a payment without transfers (a pending one, the
most polled) needs no scanner head; with transfers the head gives their confirmations."""

from __future__ import annotations

import os

from sqlalchemy import delete, event, select

from ctrip_core.db.models import ChainCursor, Transfer
from ctrip_core.services.payments.payment_view import render_one
from ctrip_core.services.payments.operations import PaymentRequest, create_payment, get_payment


class StatementLog:
    """The SQL statements an engine runs while the block is open."""

    def __init__(self, engine):
        self.engine, self.statements = engine.sync_engine, []

    def _record(self, conn, cursor, statement, *args):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)


async def test_a_payment_without_transfers_renders_without_the_head_query(runtime, merchant):
    async with runtime.sessions() as s, s.begin():
        created = await create_payment(runtime, merchant["id"], PaymentRequest("anvil", "ETH", "1"), within=s)
    async with runtime.sessions() as s:
        payment = await get_payment(s, merchant["id"], created.id)
        with StatementLog(runtime.engine) as log:
            rendered = await render_one(s, payment)
    assert rendered["transfers"] == [] and rendered["sweep"] == {"state": "none", "tx_hashes": []}
    assert len(log.statements) == 1 and "chain_cursors" not in log.statements[0]


async def test_a_payment_with_a_transfer_counts_its_confirmations_from_the_head(runtime, merchant):
    async with runtime.sessions() as s, s.begin():
        created = await create_payment(runtime, merchant["id"], PaymentRequest("anvil", "ETH", "1"), within=s)
        s.add(Transfer(chain="anvil", tx_hash="0x" + os.urandom(32).hex(), log_index=-1, payment_id=created.id,
                       block_number=1, block_hash="0x" + "ab" * 32, from_address="0x" + "11" * 20,
                       to_address=created.address, asset="ETH", amount_base_units=10**18))
    try:
        async with runtime.sessions() as s:
            payment = await get_payment(s, merchant["id"], created.id)
            with StatementLog(runtime.engine) as log:
                rendered = await render_one(s, payment)
            head = await s.scalar(select(ChainCursor.last_block).where(ChainCursor.chain == "anvil"))
    finally:  # the session's database is shared: leave no made-up transfer for other tests' jobs
        async with runtime.sessions() as s, s.begin():
            await s.execute(delete(Transfer).where(Transfer.payment_id == created.id))
    assert len(log.statements) == 2 and "chain_cursors" in log.statements[1]
    assert rendered["transfers"][0]["confirmations"] == (0 if head is None else head - 1 + 1)
