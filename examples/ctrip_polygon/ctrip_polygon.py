"""Polygon PoS (137) and Amoy (80002): EIP-1559 fees, 128 confirmations. Only the differences."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class PolygonChain(EVMChain):
    name = "polygon"
    chain_ids = (137, 80002)
    fee_model = "eip1559"
    default_confirmations = 128


@hookimpl
def ctrip_register_chain_adapters(register):
    register("polygon", PolygonChain)
