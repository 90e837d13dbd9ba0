"""Merchants' own treasuries: set by the operator with the mnemonic, read by the sweeper.

`set_treasury` is what `ctrip merchant set-treasury` runs: it signs the treasury statement with the
wallet's authorization key (services/authorizations.py) and stores address and signature. Without
a row, a merchant's deposits go to the chain's `treasury` in chains.yaml.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import Merchant, MerchantTreasury
from ctrip_core.services.authorizations import sign_statement, treasury_statement
from ctrip_core.services.errors import NotFound
from ctrip_core.wallet import MnemonicSigner


async def set_treasury(session: AsyncSession, signer: MnemonicSigner, merchant_id: str, chain: ChainConfig,
                       address: str) -> MerchantTreasury:
    """Authorize and store `address` (EIP-55) as the merchant's treasury on `chain`; the caller commits."""
    if await session.get(Merchant, merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id}", "MERCHANT")
    signature = sign_statement(signer.authorization_key(),
                               treasury_statement(merchant_id, chain.name, chain.chain_id, address))
    row = await session.get(MerchantTreasury, (merchant_id, chain.name), with_for_update=True)
    if row is None:
        row = MerchantTreasury(merchant_id=merchant_id, chain=chain.name)
        session.add(row)
    row.address, row.authorization = address, signature
    return row


async def treasuries_on(session: AsyncSession, chain: str) -> list[MerchantTreasury]:
    """Every merchant treasury row of `chain`, as stored (the sweeper verifies each)."""
    return list(await session.scalars(select(MerchantTreasury).where(MerchantTreasury.chain == chain)))
