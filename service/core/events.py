"""Domain events: what the comments and rankings domains announce, and who is told.

A domain announces an event (a plain dataclass of its own, such as ``CommentPosted``) inside
the transaction that made it happen; the listeners are attached to the app in ``create_app``
(the notification outbox, see ``outbox.init_app``). So the side that reacts is never imported
by the side that acts, and what a listener adds to the session commits, or rolls back, with
the comment or the positions that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app

Event = TypeVar("Event")

LISTENERS = "ranklet_listeners"  # app.extensions key: {event class: [listener, ...]}


def listen(app: Flask, event: type[Event], listener: Callable[[Event], None]) -> None:
    """Call ``listener`` with every ``event`` this app's requests and commands announce."""
    registry: dict[type, list[Callable[[Any], None]]] = app.extensions.setdefault(LISTENERS, {})
    registry.setdefault(event, []).append(listener)


def announce(event: object) -> None:
    """Tell the current app's listeners of ``event``, in the order they were attached."""
    for listener in current_app.extensions.get(LISTENERS, {}).get(type(event), ()):
        listener(event)
