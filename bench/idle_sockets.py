"""Idle connections held open to a server during a bench, as an idle or slow crowd would.

``IdleSockets(port, count)`` opens ``count`` connections to 127.0.0.1:port that send
nothing, and re-opens those the server closes (after its idle timeout), so the crowd
stays the same size for the whole run. Bounded: at most 20,000 sockets, and its thread
stops with :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

MAX_SOCKETS = 20_000


class IdleSockets:
    def __init__(self, port: int, count: int) -> None:
        if not 0 < count <= MAX_SOCKETS:
            raise ValueError(f"idle sockets: 1 to {MAX_SOCKETS}, not {count}")
        self.port = port
        self.count = count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._selector = selectors.DefaultSelector()

    def _open(self) -> None:
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        for _ in range(self.count):
            self._open()
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                self._selector.unregister(sock)
                sock.close()  # closed (or answered) by the server: replace it
                self.reopened += 1
                self._open()

    def start(self) -> IdleSockets:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for key in list(self._selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
