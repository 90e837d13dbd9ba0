"""cTrip adapter for BNB Smart Chain (56) and its testnet (97): legacy gas price, 15 confirmations."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class BscChain(EVMChain):
    name = "bsc"
    chain_ids = (56, 97)
    fee_model = "legacy"
    default_confirmations = 15
    default_block_time_s = 0.75


@hookimpl
def ctrip_register_chain_adapters(register):
    register("bsc", BscChain)
