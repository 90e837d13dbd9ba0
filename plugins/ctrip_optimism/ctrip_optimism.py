"""cTrip adapter for OP Mainnet (10) and OP Sepolia (11155420), an OP-stack chain: fees, the L1
data fee, block time and confirmations are `OPStackChain`'s (ctrip_core/chains/op_stack.py)."""

from ctrip_core.chains.op_stack import OPStackChain
from ctrip_core.hookspecs import hookimpl


class OptimismChain(OPStackChain):
    name = "optimism"
    chain_ids = (10, 11155420)


@hookimpl
def ctrip_register_chain_adapters(register):
    register("optimism", OptimismChain)
