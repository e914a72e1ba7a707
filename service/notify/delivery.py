"""What one delivery of an outbox row (a webhook or an e-mail) is, and how it can end."""

from __future__ import annotations

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
