"""Webhook deliveries: the signed POST of an outbox row to the site's webhook URL.

The answer must come, head and status, within one delivery's deadline
(``delivery.Deadline``), not only each read within ``WEBHOOK_TIMEOUT``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from flask import current_app

from service.core.crypto import decrypt
from service.db.models import Site
from service.notify.delivery import DeliveryError, Send, Skip, post_json
from service.sites import webhook_target

WEBHOOK_TIMEOUT = 10  # one connect or read


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Ranklet-Signature``: HMAC-SHA256 keyed with the secret over ``"{t}.{raw body}"``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def prepare_webhook(site: Site, payload: dict[str, Any]) -> Send:
    if not site.webhook_url:
        raise Skip("the site has no webhook any more")
    secret = decrypt(site.webhook_secret_encrypted)
    if not secret:
        raise DeliveryError(
            "the webhook has no signing secret: run `ranklet site update SLUG --webhook URL`",
            permanent=True,
        )
    url = site.webhook_url
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    allow_private = webhook_target.allow_private(current_app.config)

    def send() -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Ranklet",
            "X-Ranklet-Signature": signature(secret, int(time.time()), body),
        }
        post_json(url, body, headers, allow_private=allow_private, timeout=WEBHOOK_TIMEOUT)

    return send
