"""Who is asking: the client address, with proxies trusted only as configured."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app, request


def client_address() -> str:
    """The socket's peer address, or the address ``RANKLET_TRUSTED_PROXIES`` hops back.

    ``X-Forwarded-For`` is appended to by each proxy, so with N trusted proxies the client is
    the N-th address from the right; anything further left was written by the client itself.
    """
    hops = int(current_app.config.get("TRUSTED_PROXIES") or 0)
    remote = request.remote_addr or "0.0.0.0"  # noqa: S104 - a placeholder, never bound
    if hops <= 0:
        return remote
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return forwarded[0] if forwarded else remote


def _keyed_hash(purpose: str, value: str) -> str:
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), purpose.encode(), "sha256").digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def client_key(purpose: str, *, rotating: bool = True) -> str:
    """A keyed hash of the client address: never the address itself.

    With ``rotating`` the key changes every UTC day, so yesterday's keys cannot be linked to
    today's; uses that must recognise a client for ever (one like per comment) pass False.
    """
    day = datetime.now(UTC).strftime("%Y-%m-%d") if rotating else "static"
    return _keyed_hash(f"{purpose}:{day}", client_address())
