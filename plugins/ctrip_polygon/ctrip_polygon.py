"""cTrip adapter for Polygon PoS (137) and Amoy (80002): EIP-1559 fees, 2 s blocks, `finalized`
(milestones finalize a block within seconds; the depth of 128 once advised belongs to the era before them)."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class PolygonChain(EVMChain):
    name = "polygon"
    chain_ids = (137, 80002)
    fee_model = "eip1559"
    default_confirmations = "finalized"
    default_block_time_s = 2


@hookimpl
def ctrip_register_chain_adapters(register):
    register("polygon", PolygonChain)
