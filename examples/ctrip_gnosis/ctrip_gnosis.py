"""Gnosis Chain (100) and Chiado (10200): EIP-1559 fees, 20 confirmations, 5 s blocks. Only the differences."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class GnosisChain(EVMChain):
    name = "gnosis"
    chain_ids = (100, 10200)
    fee_model = "eip1559"
    default_confirmations = 20
    default_block_time_s = 5


@hookimpl
def ctrip_register_chain_adapters(register):
    register("gnosis", GnosisChain)
