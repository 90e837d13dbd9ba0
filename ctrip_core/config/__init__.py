"""Configuration: process settings (dynaconf) and the chains file (chains.yaml), both validated at startup."""

from ctrip_core.config.chains_file import AssetConfig, ChainConfig, TokenConfig, load_chains
from ctrip_core.config.errors import ConfigError, ServiceUnavailable
from ctrip_core.config.settings import Settings, load_settings

__all__ = ["AssetConfig", "ChainConfig", "ConfigError", "Settings", "TokenConfig", "load_chains",
           "ServiceUnavailable", "load_settings"]
