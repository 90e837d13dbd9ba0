"""/v1/chains: the enabled chains, their assets, confirmation rule and head block."""

from __future__ import annotations

import asyncio

from quart import Blueprint
from quart_schema import validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.schemas import AssetOut, ChainList, ChainOut
from ctrip_core.api.state import app_state
from ctrip_core.chains.rpc import RpcError

blueprint = Blueprint("chains", __name__)
HEAD_TIMEOUT_S = 2.0


async def _head(chain) -> int | None:
    try:
        return await asyncio.wait_for(chain.head(), HEAD_TIMEOUT_S)
    except (RpcError, asyncio.TimeoutError):
        return None


@blueprint.get("/chains")
@scope("read")
@validate_response(ChainList, 200)
@errors()
async def list_chains():
    """Enabled chains with chain id, assets, confirmations and head block (null when the node is down)."""
    chains = list(app_state().runtime.chains.values())
    heads = await asyncio.gather(*(_head(c) for c in chains))
    data = []
    for chain, head in zip(chains, heads):
        cfg = chain.config
        assets = [AssetOut(symbol=cfg.native.symbol, decimals=cfg.native.decimals, token_address=None)]
        assets += [AssetOut(symbol=t.symbol, decimals=t.decimals, token_address=t.address) for t in cfg.tokens]
        data.append(ChainOut(name=cfg.name, chain_id=cfg.chain_id, adapter=cfg.adapter,
                             confirmations=chain.confirmations, assets=assets, head_block=head))
    return ChainList(object="list", data=data), 200
