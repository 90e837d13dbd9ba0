"""cTrip adapter for Ethereum mainnet (1) and Sepolia (11155111): EIP-1559 fees, 12 confirmations."""

from ctrip_core.chains import EVMChain
from ctrip_core.hookspecs import hookimpl


class EthereumChain(EVMChain):
    name = "ethereum"
    chain_ids = (1, 11155111)
    fee_model = "eip1559"
    default_confirmations = 12
    default_block_time_s = 12


@hookimpl
def ctrip_register_chain_adapters(register):
    register("ethereum", EthereumChain)
