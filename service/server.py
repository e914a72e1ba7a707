"""Running the app under gunicorn, the production server, from the ``ranklet`` command.

What gunicorn does not bound by itself is bounded in our own code, not by patching the
library: ``service.server_worker`` is the worker class (its poller owns idle and slow
connections, so a few threads per worker run only whole requests; gunicorn's own refusals
in JSON), ``service.server_reading`` the per-request read deadline and head limit. Also:

- **No forwarded headers from gunicorn**: it would take ``X-Forwarded-Proto`` from any
  peer on 127.0.0.1. Ranklet trusts proxies only as ``RANKLET_TRUSTED_PROXIES`` says
  (``service.client``), and builds no URL from the request.
- **Sized to the machine**: one worker per core the process may run on, a few threads each
  (:func:`default_workers`, :data:`DEFAULT_THREADS`).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from service.server_reading import (
    FIELD_LIMIT,
    FIELDS_LIMIT,
    HEAD_LIMIT,
    READ_DEADLINE,
    SEND_TIMEOUT,
    BodyDeadline,
)
from service.server_worker import RankletWorker

__all__ = [
    "HEAD_LIMIT",
    "READ_DEADLINE",
    "SEND_TIMEOUT",
    "GunicornServer",
    "RankletWorker",
    "default_workers",
    "port_in_use",
    "serve",
]

# Threads per worker. They run only requests that are whole (the poller holds the rest),
# so they are for overlapping database waits, not for waiting on clients; more of them
# only fight over the GIL (see docs/scaling.md, "Workers and threads").
DEFAULT_THREADS = 8
# Connections one worker holds at once (idle ones included): each costs a descriptor and
# a few hundred bytes, never a thread.
WORKER_CONNECTIONS = 10_000


def default_workers() -> int:
    """One worker process per core this process may run on (its CPU affinity)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 64))


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with our settings; each worker builds its own app (nothing shared by fork)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from service import create_app
        from service.notify.sender import start_sender

        app = create_app()
        app.wsgi_app = BodyDeadline(app.wsgi_app)  # type: ignore[method-assign]
        start_sender(app)  # in the worker, after the fork: outbox rows go out without traffic
        return app


def serve(host: str, port: int, workers: int | None = None, threads: int = DEFAULT_THREADS) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        # The poller of RankletWorker holds idle and slow connections; threads run only
        # whole requests, so a few per worker suffice (READ_DEADLINE still bounds a body).
        "worker_class": "service.server_worker.RankletWorker",
        "threads": threads,
        "worker_connections": WORKER_CONNECTIONS,
        "backlog": 4096,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        # One control socket per user by default; two servers on one host would collide.
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "ranklet",
        # 0 is gunicorn's "no limit" (its largest is 8,190 bytes, too short for /counts):
        # DeadlineSocket bounds the head to HEAD_LIMIT instead.
        "limit_request_line": 0,
        "limit_request_fields": FIELDS_LIMIT,
        "limit_request_field_size": FIELD_LIMIT,
        # Trust no peer's X-Forwarded-* or Forwarded headers, 127.0.0.1 included.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
    }
    GunicornServer(options).run()


def port_in_use(host: str, port: int) -> bool:
    """Whether another process listens on ``host:port`` (gunicorn would retry, then fail).

    Bound with SO_REUSEADDR as gunicorn binds, so a port left in TIME_WAIT by a server that
    just stopped counts as free, while a live listener does not.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # gunicorn says what is wrong with the address
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False
