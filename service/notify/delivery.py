"""What one delivery of an outbox row (a webhook, a chat message or an e-mail) is, how it can
end, and the one guarded POST that webhooks and chat channels share."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

# What one delivery does, with everything it needs gathered before the network call.
Send = Callable[[], None]


class DeliveryError(Exception):
    """A delivery failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Skip(Exception):  # not an error: the notification no longer applies
    """Nothing to send any more (comment gone, reader unsubscribed, webhook removed)."""


DELIVERY_SECONDS = 15.0  # a whole delivery: connect, send, the answer's head


class Deadline:
    """A whole delivery's time limit, not each read's.

    A socket timeout bounds one read: an endpoint that trickles a byte every few seconds
    never trips it and held a delivery (and, in one sender, every site's mail behind it)
    for minutes. ``guard`` arms a timer that shuts the delivery's socket down at the
    deadline, so the blocked read returns at once, whatever the other side does.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = DELIVERY_SECONDS if seconds is None else seconds
        self.at = time.monotonic() + self.seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def timeout(self, per_operation: float) -> float:
        """A socket timeout for one operation that also ends by the deadline."""
        return max(0.001, min(per_operation, self.at - time.monotonic()))

    def guard(self, current_socket: Callable[[], Any]) -> None:
        """Until the block ends: at the deadline, shut down the socket ``current_socket``
        gives then (a STARTTLS may have replaced the one there was at connect)."""

        def expire() -> None:
            self.expired = True
            with contextlib.suppress(Exception):
                sock = current_socket()
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

        self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), expire)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


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
    is resolved and checked once and the connection goes to exactly that address, and the
    answer's head must come within one delivery's ``Deadline`` (``timeout`` bounds each
    connect or read within it).

    A refused address is a permanent failure; DNS, network, TLS, the deadline and non-2xx
    answers are retried, except the statuses in ``permanent_statuses`` (a revoked token
    stays revoked).
    """
    from service.sites import webhook_target

    try:
        target = webhook_target.resolve(url, allow_private)
    except webhook_target.TargetRefused as refused:
        raise DeliveryError(f"{label} refused: {refused}", permanent=True) from None
    except (OSError, UnicodeError) as error:  # DNS: may well work next time
        raise DeliveryError(f"{label} unreachable: {error}") from None
    deadline = Deadline()
    connection = webhook_target.connection(target, deadline.timeout(timeout))
    try:
        with deadline:
            connection.connect()
            deadline.guard(lambda: connection.sock)
            connection.request("POST", target.path, body=body, headers=headers)
            status = connection.getresponse().status  # the answer's body is not read
    except (OSError, http.client.HTTPException, ValueError) as error:
        # refused, timeout, TLS, a broken answer, or the deadline passed
        if deadline.expired:
            raise DeliveryError(f"{label}: no answer within {deadline.seconds:g} s") from None
        raise DeliveryError(f"{label} unreachable: {error}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        # A redirect is a failure too: following it would turn the POST into a GET
        # (and could lead anywhere, past the address check).
        raise DeliveryError(
            f"HTTP {status} from the {label}", permanent=status in permanent_statuses
        )
