"""Merchants, their API keys (made, listed, revoked; only a hash of a key is stored), treasuries and
dashboard users (only an argon2id hash of a password is stored)."""
