"""Merchant treasuries are believed only with the wallet's authorization (services/authorizations.py):
the sweeper's `check_route` accepts a deposit sweep to a merchant's treasury whose row verifies, the
chain's treasury for a merchant without one, and refuses ("destination") a row changed in the database,
copied from another merchant or chain, or signed by another wallet. No chain is needed: this is the
sweeper's own check, before any balance is read.
"""

from __future__ import annotations

import pytest

from ctrip_core.config.chains_file import load_chains
from ctrip_core.db.models import MerchantTreasury, Sweep
from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, GATEWAY_MNEMONIC
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.services.authorizations import sign_statement, treasury_statement
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.signing import Refused, check_route
from ctrip_core.wallet import MnemonicSigner

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OWN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ELSEWHERE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


@pytest.fixture
def chain(tmp_path):
    path = write_anvil_chains_file(tmp_path / "chains.yaml", "http://127.0.0.1:1", TOKEN)
    return next(iter(load_chains(path).values()))


def _row(signer, merchant_id, chain, address, *, signed_for=None):
    merchant, name, chain_id, to = signed_for or (merchant_id, chain.name, chain.chain_id, address)
    return MerchantTreasury(merchant_id=merchant_id, chain=chain.name, address=address,
                            authorization=sign_statement(signer.authorization_key(),
                                                         treasury_statement(merchant, name, chain_id, to)))


def _sweep(keys, merchant_id, to):
    return Sweep(id="swp_t", chain="anvil", kind="native", derivation_index=3, merchant_id=merchant_id,
                 from_address=keys.deposit_address(3), to_address=to, token_address=None)


def test_an_authorized_treasury_is_where_the_merchants_deposits_go(chain):
    signer = MnemonicSigner(GATEWAY_MNEMONIC)
    keys = SweepKeys(signer, {chain.name: chain})
    keys.verify_treasuries(chain.name, [_row(signer, "mer_a", chain, OWN)])
    check_route(chain, keys, _sweep(keys, "mer_a", OWN))
    with pytest.raises(Refused) as refused:
        check_route(chain, keys, _sweep(keys, "mer_a", chain.treasury))
    assert refused.value.reason == "destination"
    check_route(chain, keys, _sweep(keys, "mer_b", chain.treasury))  # no row: the chain's treasury
    with pytest.raises(Refused):
        check_route(chain, keys, _sweep(keys, "mer_b", OWN))  # another merchant's treasury


TAMPERED = {
    "address changed in the database": lambda signer, chain: _row(signer, "mer_a", chain, ELSEWHERE,
                                                                  signed_for=("mer_a", chain.name, chain.chain_id, OWN)),
    "copied from another merchant": lambda signer, chain: _row(signer, "mer_a", chain, OWN,
                                                               signed_for=("mer_b", chain.name, chain.chain_id, OWN)),
    "copied from another chain": lambda signer, chain: _row(signer, "mer_a", chain, OWN,
                                                            signed_for=("mer_a", "bsc", 56, OWN)),
    "signed by another wallet": lambda signer, chain: _row(MnemonicSigner(ANVIL_MNEMONIC), "mer_a", chain, OWN),
    "no signature": lambda signer, chain: MerchantTreasury(merchant_id="mer_a", chain=chain.name, address=OWN,
                                                           authorization=""),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_treasury_row_that_does_not_verify_is_refused_and_never_falls_back(case, chain, caplog):
    signer = MnemonicSigner(GATEWAY_MNEMONIC)
    keys = SweepKeys(signer, {chain.name: chain})
    row = TAMPERED[case](signer, chain)
    keys.verify_treasuries(chain.name, [row])
    assert keys.treasury_for(chain.name, "mer_a") is None
    for to in {row.address, OWN, ELSEWHERE, chain.treasury}:  # not its address, nor the chain's treasury
        with pytest.raises(Refused) as refused:
            check_route(chain, keys, _sweep(keys, "mer_a", to))
        assert refused.value.reason == "destination"
    assert sum("not authorized by this wallet" in r.getMessage() for r in caplog.records) == 1
    keys.verify_treasuries(chain.name, [row])  # the next pass: said once, not every pass
    assert sum("not authorized by this wallet" in r.getMessage() for r in caplog.records) == 1
