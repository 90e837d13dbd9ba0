"""cTrip: a self-hosted crypto payment gateway for EVM chains."""

__version__ = "0.1.0"
