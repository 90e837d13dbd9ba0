"""Encryption at rest for webhook signing secrets, keyed by the `secret_key` setting.

The signing secret must be recoverable to sign deliveries, so it cannot be hashed; it is stored
only as Fernet ciphertext, and the key lives in the environment, never in the database.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from ctrip_core.config import ConfigError, Settings


class SecretBox:
    def __init__(self, secret_key: str):
        if len(secret_key) < 16:
            raise ConfigError("secret_key", "must be at least 16 characters")
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))

    @classmethod
    def from_settings(cls, settings: Settings) -> "SecretBox":
        if settings.secret_key is None:
            raise ConfigError("secret_key", "is not set (CTRIP_SECRET_KEY); it encrypts webhook secrets at rest")
        return cls(settings.secret_key.get_secret_value())

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with this secret_key") from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
