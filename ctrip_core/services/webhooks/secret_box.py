"""Encryption at rest for webhook signing secrets (and sealed idempotent replays), keyed by `secret_key`.

The signing secret must be recoverable to sign deliveries, so it cannot be hashed; it is stored
only as Fernet ciphertext, and the key lives in the environment, never in the database.

Rotation: `secret_key` seals; `secret_key_previous`, when set, still opens what the previous key
sealed, until `ctrip secret-key rotate` has re-sealed every stored secret with the current key
(services/webhooks/secret_rotation.py; the procedure is in docs/operations.md).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ctrip_core.config import ConfigError, Settings


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


class SecretBox:
    """Seals with the first key; opens with any of them (current first, then the previous one)."""

    def __init__(self, secret_key: str, previous: str | None = None):
        self._fernet = MultiFernet([_fernet(secret_key)] + ([_fernet(previous)] if previous else []))

    @classmethod
    def from_settings(cls, settings: Settings) -> "SecretBox":
        if settings.secret_key is None:
            raise ConfigError("secret_key", "is not set (CTRIP_SECRET_KEY); it encrypts webhook secrets at rest")
        previous = settings.secret_key_previous
        return cls(settings.secret_key.get_secret_value(), previous.get_secret_value() if previous else None)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with secret_key "
                             "(nor secret_key_previous)") from None

    def reseal(self, ciphertext: str) -> str:
        """The same plaintext sealed with the current key (ValueError when no key opens it)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with secret_key "
                             "(nor secret_key_previous)") from None

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"
