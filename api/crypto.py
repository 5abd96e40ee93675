"""Encryption at rest for tracker credentials and webhook secrets (Fernet, rotatable keys)."""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

_cache = {}


def _keys():
    keys = current_app.config.get("ENCRYPTION_KEYS") or []
    if not keys:
        # Development only (production refuses to start without ENCRYPTION_KEYS): derive from SECRET_KEY.
        digest = hashlib.sha256(("ticket-gateway-credentials:" + current_app.config["SECRET_KEY"]).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return tuple(keys)


def _fernet():
    keys = _keys()
    if keys not in _cache:
        _cache[keys] = MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])
    return _cache[keys]


def encrypt_json(value) -> str:
    """Encrypt a JSON-serialisable value with the primary key."""
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str):
    """Decrypt a value made by encrypt_json with any configured key."""
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise RuntimeError("Stored credentials cannot be decrypted with the configured ENCRYPTION_KEYS.") from None


def rotate(token: str) -> str:
    """Re-encrypt a stored value with the current primary key."""
    return _fernet().rotate(token.encode()).decode()
