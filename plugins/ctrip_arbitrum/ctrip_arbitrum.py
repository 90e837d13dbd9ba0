"""cTrip adapter for Arbitrum One (42161) and Arbitrum Sepolia (421614): EIP-1559 fees, 0.25 s blocks,
240 confirmations (a minute). Its gas includes the L1 component, so a native transfer costs more
than 21,000 gas there: the sweeper prices every native transfer by `eth_estimateGas` (all chains)."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class ArbitrumChain(EVMChain):
    name = "arbitrum"
    chain_ids = (42161, 421614)
    fee_model = "eip1559"
    default_confirmations = 240
    default_block_time_s = 0.25


@hookimpl
def ctrip_register_chain_adapters(register):
    register("arbitrum", ArbitrumChain)
