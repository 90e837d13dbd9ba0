"""Chain access: the `EVMChain` base every adapter plugin extends, its RPC client and data types."""

from ctrip_core.chains.evm import ChainIdMismatch, EVMChain
from ctrip_core.chains.rpc import RetryPolicy, RpcClient, RpcError, RpcResponseError, RpcTransportError, RpcUnavailable
from ctrip_core.chains.types import Block, FeeQuote, Log, MalformedAnswer, Receipt, Tx

__all__ = ["Block", "ChainIdMismatch", "EVMChain", "FeeQuote", "Log", "MalformedAnswer", "Receipt", "RetryPolicy",
           "RpcClient", "RpcError", "RpcResponseError", "RpcTransportError", "RpcUnavailable", "Tx"]
