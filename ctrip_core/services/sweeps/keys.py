"""Signing keys for sweeps, from the mnemonic: the one place a private key is derived.

Only the sweeper builds a `SweepKeys`; it never logs, stores or repeats a key, and the gas tank's
address is derived from the same mnemonic at the chain's `gas_tank` path (gas_tanks.gas_tank_address,
the one derivation of a tank's address).
"""

from __future__ import annotations

from ctrip_core.config import ChainConfig, ConfigError, Settings
from ctrip_core.db.models import Sweep
from ctrip_core.services.sweeps.gas_tanks import gas_tank_address
from ctrip_core.wallet import MnemonicSigner, WalletError, XpubDeriver


class SweepKeys:
    def __init__(self, signer: MnemonicSigner, chains: dict[str, ChainConfig]):
        self._signer = signer
        self._chains = chains
        self._deriver = XpubDeriver(signer.xpub())

    @classmethod
    def from_settings(cls, settings: Settings, chains: dict[str, ChainConfig]) -> "SweepKeys":
        """Refuses to start without a mnemonic, a treasury per chain, or when the mnemonic is not wallet.xpub's."""
        if settings.wallet.mnemonic is None:
            raise ConfigError("wallet.mnemonic", "is not set; the sweeper needs it (CTRIP_WALLET__MNEMONIC)")
        try:
            signer = MnemonicSigner(settings.wallet.mnemonic.get_secret_value())
        except WalletError as exc:
            raise ConfigError("wallet.mnemonic", str(exc).removeprefix("wallet.mnemonic ")) from None
        if settings.wallet.xpub is not None and signer.xpub() != settings.wallet.xpub.get_secret_value().strip():
            raise ConfigError("wallet.mnemonic", "does not belong to wallet.xpub: deposits would be unsweepable")
        for name, chain in chains.items():
            if chain.treasury is None:
                raise ConfigError(f"{settings.chains_file}: {name}.treasury", "is required by the sweeper")
        return cls(signer, dict(chains))

    def tank_address(self, chain: str) -> str:
        return gas_tank_address(self._deriver, self._chains[chain])

    def tank_key(self, chain: str) -> bytes:
        return self._signer.private_key_for_path(self._chains[chain].gas_tank)

    def deposit_address(self, index: int) -> str:
        """The deposit address of `index`, from the sweeper's own key material (never from a stored row)."""
        return self._deriver.derive(index)

    def deposit_key(self, index: int) -> bytes:
        return self._signer.private_key(index)

    def key_for(self, sweep: Sweep) -> bytes:
        """The key of the address the sweep sends from."""
        if sweep.kind == "gas_topup":  # its index is the deposit address it pays
            return self.tank_key(sweep.chain)
        return self.deposit_key(sweep.derivation_index)

    def __repr__(self) -> str:
        return "SweepKeys(<keys hidden>)"
