"""What one delivery of an outbox row (a webhook, a chat message or an e-mail) is, how it can
end, and the one guarded POST that webhooks and chat channels share."""

from __future__ import annotations

import http.client
from collections.abc import Callable

# What one delivery does, with everything it needs gathered before the network call.
Send = Callable[[], None]


class DeliveryError(Exception):
    """A delivery failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Skip(Exception):  # not an error: the notification no longer applies
    """Nothing to send any more (comment gone, reader unsubscribed, webhook removed)."""


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float,
    label: str = "webhook",
    permanent_statuses: frozenset[int] = frozenset(),
) -> None:
    """POST ``body`` to ``url`` under the private-address rule (``webhook_target``): the host
    is resolved and checked once and the connection goes to exactly that address.

    A refused address is a permanent failure; DNS, network, TLS and non-2xx answers are
    retried, except the statuses in ``permanent_statuses`` (a revoked token stays revoked).
    """
    from service.sites import webhook_target

    try:
        target = webhook_target.resolve(url, allow_private)
    except webhook_target.TargetRefused as refused:
        raise DeliveryError(f"{label} refused: {refused}", permanent=True) from None
    except (OSError, UnicodeError) as error:  # DNS: may well work next time
        raise DeliveryError(f"{label} unreachable: {error}") from None
    connection = webhook_target.connection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        status = connection.getresponse().status  # the answer's body is not read
    except (OSError, http.client.HTTPException, ValueError) as error:
        # refused, timeout, TLS, a broken answer
        raise DeliveryError(f"{label} unreachable: {error}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        # A redirect is a failure too: following it would turn the POST into a GET
        # (and could lead anywhere, past the address check).
        raise DeliveryError(
            f"HTTP {status} from the {label}", permanent=status in permanent_statuses
        )
