"""cTrip adapter for Base (8453) and Base Sepolia (84532), an OP-stack chain: fees, the L1 data fee,
block time and confirmations are `OPStackChain`'s (ctrip_core/chains/op_stack.py)."""

from ctrip_core.chains.op_stack import OPStackChain
from ctrip_core.hookspecs import hookimpl


class BaseChain(OPStackChain):
    name = "base"
    chain_ids = (8453, 84532)


@hookimpl
def ctrip_register_chain_adapters(register):
    register("base", BaseChain)
