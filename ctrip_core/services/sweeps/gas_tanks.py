"""Gas tanks: the address on each chain that pays token sweeps' gas, and whether it still can.

One derivation of a tank's address (`gas_tank_address`: the deriver at the chain's `gas_tank`
path, on the change branch, never a deposit address), used by the sweeper's keys, the preflight
check, `ctrip wallet gas-tank` and `/ready`, so none of them can name another address as the tank.
The warning rule (a tank below `sweeps.gas_tank_floor_wei`) lives here too; the API only shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ctrip_core.chains import EVMChain
from ctrip_core.config import ChainConfig


def gas_tank_address(deriver, chain: ChainConfig) -> str | None:
    """The chain's gas-tank address, or None from a plugin's deriver that derives no paths."""
    return deriver.derive_path(chain.gas_tank)  # AddressDeriver's default: None


async def tank_balances(chains: Mapping[str, EVMChain], deriver, timeout_s: float) -> dict[str, int]:
    """The balance (wei) of each chain's tank that pays for something (the chain has tokens), by chain.

    A node that does not answer within `timeout_s` leaves its chain out: its own health check
    reports the node, and a tank of unknown balance is not called low.
    """
    balances: dict[str, int] = {}
    for name, chain in chains.items():
        if not chain.config.tokens:
            continue  # native sweeps pay their own gas
        tank = gas_tank_address(deriver, chain.config)
        if tank is None:
            break
        try:
            balances[name] = await asyncio.wait_for(chain.get_balance(tank), timeout_s)
        except Exception:  # noqa: BLE001 - unknown is not low; the node is reported elsewhere
            continue
    return balances


def low_tank_warnings(balances: Mapping[str, int], floor_wei: int) -> dict[str, str]:
    """A warning per tank below `floor_wei`: it cannot pay token sweeps' gas for long.

    Shown on the unauthenticated /ready, so it names neither address nor balance (`ctrip wallet
    gas-tank` and the `ctrip_gas_tank_balance_wei` metric have both).
    """
    return {f"gas_tank:{name}": ("below sweeps.gas_tank_floor_wei; refill it "
                                 f"(address: ctrip wallet gas-tank {name})")
            for name, balance in balances.items() if balance < floor_wei}
