"""Contracts placed at fixed addresses of a local Anvil, as a chain's predeploys are (no deployment).

`install_gas_price_oracle` puts the test stand-in of the OP-stack GasPriceOracle
(`contracts/GasPriceOracle.sol`: `getL1Fee(bytes)` = length × `feePerByte`) at the predeploy's address,
so an Anvil serving Base's or Optimism's chain id answers the L1 data fee as theirs would.
"""

from __future__ import annotations

from ctrip_core.chains.l1_fee import GAS_PRICE_ORACLE
from ctrip_core.devnet.token import _rpc, load_artifact

GAS_PRICE_ORACLE_ARTIFACT = "gas_price_oracle.json"


def place_code(rpc_url: str, address: str, artifact: str) -> None:
    """Set `address`'s code to the runtime code of a test contract: its creation code, run in an
    `eth_call`, returns exactly that (a constructor's return data is the code deployed)."""
    runtime = _rpc(rpc_url, "eth_call", {"data": load_artifact(artifact)["bytecode"]}, "latest")
    _rpc(rpc_url, "anvil_setCode", address, runtime)


def install_gas_price_oracle(rpc_url: str, fee_per_byte: int) -> None:
    """The GasPriceOracle stand-in at the predeploy address, pricing `fee_per_byte` wei per byte."""
    place_code(rpc_url, GAS_PRICE_ORACLE, GAS_PRICE_ORACLE_ARTIFACT)
    set_l1_fee_per_byte(rpc_url, fee_per_byte)


def set_l1_fee_per_byte(rpc_url: str, fee_per_byte: int) -> None:
    """Change the stand-in's price (storage slot 0), as an L1 price change would."""
    _rpc(rpc_url, "anvil_setStorageAt", GAS_PRICE_ORACLE, "0x0", "0x" + format(fee_per_byte, "064x"))
