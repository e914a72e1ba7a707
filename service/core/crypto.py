"""Secrets: site and edit tokens (hashed), e-mail encryption at rest, keyed hashes.

Nothing here stores a key in the database: the data key comes from ``RANKLET_DATA_KEY`` or is
derived from the secret key, so a copy of the database alone reveals no address.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

TOKEN_PREFIX = "rk_"
TOKEN_RE = re.compile(r"^rk_[A-Za-z0-9_-]{43}$")


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    """A random token with 256 bits of entropy."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are random and long, so one SHA-256 suffices (no password stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, expected_hash: str | None) -> bool:
    if not expected_hash:
        return False
    return hmac.compare_digest(token_hash(token), expected_hash)


def _derive(purpose: bytes, length: int = 32) -> bytes:
    configured = current_app.config.get("DATA_KEY")
    return _hkdf(str(configured or current_app.config["SECRET_KEY"]).encode(), purpose, length)


@functools.lru_cache(maxsize=64)
def _hkdf(material: bytes, purpose: bytes, length: int) -> bytes:
    """Derived once per secret and purpose (every post needs two or three keys)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(material)


def _data_key() -> bytes:
    return _derive(b"ranklet data key v1")


def encrypt(value: str | None) -> str | None:
    """AES-256-GCM with a random nonce; ``v1:`` prefix leaves room for key rotation."""
    if value is None:
        return None
    nonce = os.urandom(12)
    sealed = AESGCM(_data_key()).encrypt(nonce, value.encode(), b"ranklet")
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(value: str | None) -> str | None:
    if not value:
        return None
    _, _, payload = value.partition(":")
    raw = base64.urlsafe_b64decode(payload)
    return AESGCM(_data_key()).decrypt(raw[:12], raw[12:], b"ranklet").decode()


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC with a per-purpose key derived from the secrets: not reversible without them."""
    key = _derive(b"ranklet keyed hash " + purpose.encode())
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def email_lookup(email: str | None) -> str | None:
    if not email:
        return None
    return keyed_hash("email", email.strip().lower())


def avatar_seed(site_id: int, author: str | None, email: str | None) -> str:
    """An identicon seed: stable for one commenter on one site, meaningless anywhere else."""
    basis = (email or "").strip().lower() or (author or "").strip() or secrets.token_hex(8)
    return keyed_hash("avatar", f"{site_id}:{basis}")[:16]
