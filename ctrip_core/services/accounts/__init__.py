"""Merchants and their API keys (made, listed, revoked; only a hash of a key is stored)."""
