"""Running the app under gunicorn, the production server, from the ``ranklet`` command."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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
        from service.notifications import start_sender

        app = create_app()
        start_sender(app)  # in the worker, after the fork: outbox rows go out without traffic
        return app


def serve(host: str, port: int, workers: int, threads: int = 64) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads, not processes, absorb slow clients: a thread blocked reading a request
        # sent one byte a second costs ~nothing, and 2 x 64 of them outlasted 100 such
        # clients here while others were still served in milliseconds.
        # Behind nginx (deploy/), the proxy buffers whole requests and none reach us slowly.
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        # One control socket per user by default; two servers on one host would collide.
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "ranklet",
        "limit_request_line": 8190,
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
