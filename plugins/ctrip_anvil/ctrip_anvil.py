"""cTrip adapter for a local Anvil node (31337): EIP-1559, 1 confirmation, and dev helpers.

The helpers (mine, set balance, snapshot/revert, reorg) wrap Anvil's own RPC methods; `ctrip dev`
and the test suite use them to drive a real chain.
"""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class AnvilChain(EVMChain):
    name = "anvil"
    chain_ids = (31337,)
    fee_model = "eip1559"
    default_confirmations = 1
    default_block_time_s = 1

    async def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks now."""
        await self.rpc.call("anvil_mine", hex(blocks))

    async def set_balance(self, address: str, wei: int) -> None:
        await self.rpc.call("anvil_setBalance", address, hex(wei))

    async def snapshot(self) -> str:
        """Snapshot the chain state; returns an id for `revert`."""
        return await self.rpc.call("evm_snapshot")

    async def revert(self, snapshot_id: str) -> bool:
        return bool(await self.rpc.call("evm_revert", snapshot_id))

    async def reorg(self, depth: int, txs: list | None = None) -> None:
        """Replace the last `depth` blocks (their transactions are dropped unless re-supplied)."""
        await self.rpc.call("anvil_reorg", depth, txs or [])


@hookimpl
def ctrip_register_chain_adapters(register):
    register("anvil", AnvilChain)
