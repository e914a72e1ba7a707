"""What one delivery of an outbox row (a webhook or an e-mail) is, and how it can end."""

from __future__ import annotations

import contextlib
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
