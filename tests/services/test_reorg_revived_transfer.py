"""A transfer that a reorg takes out and the new fork brings back (same transaction, another block) is
the same transfer: counted once, and not a late payment of the payment it already paid.

Found by the chaos soak (tests/chaos): the rescan after the rewind records the orphaned row again as
if new, and a payment already final gets `late: true` and a `payment.late` event for its own transfer.
"""

import pytest_asyncio

from test_reorgs import ETH, make_runtime, new_payment, signed_payment, sync
from test_scanning import reload
from testbed import drop_database


@pytest_asyncio.fixture
async def shallow(node, tmp_path):
    rt, url, merchant_id = await make_runtime(node, tmp_path, confirmations=1)
    yield rt, merchant_id
    await rt.close()
    drop_database(url)


async def test_a_confirmed_payments_transfer_moved_by_a_reorg_is_not_late(node, shallow):
    rt, merchant_id = shallow
    p = await new_payment(rt, merchant_id)
    snapshot = node.rpc("evm_snapshot")
    raw = signed_payment(node, p.address, ETH)
    tx_hash = node.rpc("eth_sendRawTransaction", raw)
    node.rpc("anvil_mine", "0x1")
    await sync(rt)
    assert (await reload(rt, p.id))[0].status == "confirmed"

    node.rpc("evm_revert", snapshot)
    node.rpc("anvil_mine", "0x2")  # a longer fork, where the same transaction lands a block later
    assert node.rpc("eth_sendRawTransaction", raw) == tx_hash
    node.rpc("anvil_mine", "0x1")
    await sync(rt)
    node.rpc("anvil_mine", "0x2")
    await sync(rt)

    payment, transfers, events = await reload(rt, p.id)
    assert payment.status == "confirmed" and payment.amount_received_base_units == ETH
    assert [(t.tx_hash, t.state) for t in transfers] == [(tx_hash, "confirmed")]
    assert not payment.late and not transfers[0].late, events
    assert "payment.late" not in events
    assert events[-2:] == ["payment.reorged", "payment.reorged"]  # amount taken out, then brought back
