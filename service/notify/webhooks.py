"""Webhook deliveries: the signed POST of an outbox row to the site's webhook URL.

The answer must come, head and status, within one delivery's deadline
(``delivery.Deadline``), not only each read within ``WEBHOOK_TIMEOUT``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from typing import Any

from flask import current_app

from service.core.crypto import decrypt
from service.db.models import Site
from service.notify.delivery import Deadline, DeliveryError, Send, Skip
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
        try:
            # Resolved and checked once; the connection goes to exactly that address.
            target = webhook_target.resolve(url, allow_private)
        except webhook_target.TargetRefused as refused:
            raise DeliveryError(f"webhook refused: {refused}", permanent=True) from None
        except (OSError, UnicodeError) as error:  # DNS: may well work next time
            raise DeliveryError(f"webhook unreachable: {error}") from None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Ranklet",
            "X-Ranklet-Signature": signature(secret, int(time.time()), body),
        }
        deadline = Deadline()
        connection = webhook_target.connection(target, deadline.timeout(WEBHOOK_TIMEOUT))
        try:
            with deadline:
                connection.connect()
                deadline.guard(lambda: connection.sock)
                connection.request("POST", target.path, body=body, headers=headers)
                status = connection.getresponse().status  # the answer's body is not read
        except (OSError, http.client.HTTPException, ValueError) as error:
            # refused, timeout, TLS, a broken answer, or the deadline passed
            if deadline.expired:
                raise DeliveryError(f"webhook: no answer within {deadline.seconds:g} s") from None
            raise DeliveryError(f"webhook unreachable: {error}") from None
        finally:
            connection.close()
        if not 200 <= status < 300:
            # A redirect is a failure too: following it would turn the POST into a GET
            # (and could lead anywhere, past the address check).
            raise DeliveryError(f"HTTP {status} from the webhook")

    return send
