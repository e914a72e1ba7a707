"""A delivery has a total deadline, and one site's slow endpoint delays nobody else's.

The endpoint under test accepts the webhook and then answers one byte every second: no
read ever times out, so only a deadline on the whole delivery ends it. Before, one sender
delivered row after row, and such an endpoint held every other site's mail for minutes.
"""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from support import free_port

ORIGIN = "https://blog.example.com"
TRICKLE_LIMIT = 40.0  # seconds a trickling answer lasts at most (the test never hangs)


class Trickle:
    """Reads a request, then sends ``HTTP/1.1 200`` one byte a second, until closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.open_connections = 0
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        self.open_connections += 1
        self.connected.set()
        started = time.monotonic()
        try:
            conn.settimeout(5)
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100:
                if self.stopping.is_set() or time.monotonic() - started > TRICKLE_LIMIT:
                    break
                conn.sendall(bytes([byte]))
                time.sleep(1)
        except OSError:
            pass  # the sender hung up: what a deadline does
        finally:
            self.open_connections -= 1
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"


@pytest.fixture
def endpoints() -> Iterator[tuple[Trickle, Receiver, Mailbox, int]]:
    trickle, receiver, mailbox = Trickle(), Receiver(), Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield trickle, receiver, mailbox, controller.port
    controller.stop()
    receiver.close()
    trickle.close()


@pytest.fixture
def app(
    app_config: dict[str, Any],
    endpoints: tuple[Trickle, Receiver, Mailbox, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    import service.notify.delivery
    from service import create_app
    from service.cli.context import upgrade
    from service.core.extensions import db
    from service.sites.settings import SiteSettings, create_site, new_webhook_secret

    monkeypatch.setattr(service.notify.delivery, "DELIVERY_SECONDS", 3.0, raising=False)
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    trickle, receiver, _, smtp_port = endpoints
    config = {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_FROM": "Ranklet <ranklet@example.com>",
        "WEBHOOK_ALLOW_PRIVATE": True,
    }
    application = create_app(config)
    with application.app_context():
        upgrade()
        for slug, hook, mail in (
            ("slow", f"http://127.0.0.1:{trickle.port}/hook", None),
            ("fast", f"http://127.0.0.1:{receiver.port}/hook", "author@fast.example"),
        ):
            site, _ = create_site(
                slug, SiteSettings(origins=[ORIGIN], webhook_url=hook, notify_email=mail)
            )
            new_webhook_secret(site)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def post(client: Any, slug: str, body: str) -> None:
    answer = client.post(
        f"/api/v1/sites/{slug}/comments",
        json={"article": "/a/", "body": body},
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code == 201, answer.get_json()


def rows(app: Any) -> list[tuple[str, str, str | None]]:
    from sqlalchemy import select

    from service.core.extensions import db
    from service.db.models import Notification, Site

    with app.app_context():
        found = db.session.execute(
            select(Site.slug, Notification.kind, Notification.last_error)
            .join(Site, Site.id == Notification.site_id)
            .order_by(Notification.id)
        ).all()
        db.session.rollback()
        return [tuple(row) for row in found]


def test_a_trickling_endpoint_is_cut_at_the_deadline(app, client, endpoints):
    from service.notify.sender import deliver_due

    trickle = endpoints[0]
    post(client, "slow", "to a slow endpoint")
    started = time.monotonic()
    with app.app_context():
        assert deliver_due() == 0
    took = time.monotonic() - started
    assert trickle.connected.is_set()
    assert 2.5 <= took < 6, took  # 3 s deadline, though a byte came every second
    [(slug, kind, error)] = rows(app)
    assert (slug, kind) == ("slow", "webhook") and error == "webhook: no answer within 3 s"
    deadline = time.monotonic() + 3
    while trickle.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert trickle.open_connections == 0  # the connection was closed, not left trickling


def test_a_slow_site_delays_no_other_sites_webhook_or_mail(app, client, endpoints):
    from service.notify.sender import Sender

    trickle, receiver, mailbox, _ = endpoints
    post(client, "slow", "first, to the slow endpoint")
    post(client, "fast", "then another site's")
    assert [(slug, kind) for slug, kind, _ in rows(app)] == [
        ("slow", "webhook"),
        ("fast", "webhook"),
        ("fast", "email_author"),
    ]
    sender = Sender(app)
    started = time.monotonic()
    sender.start()
    try:
        while (not receiver.bodies or not mailbox.messages) and time.monotonic() - started < 10:
            time.sleep(0.05)
        took = time.monotonic() - started
        assert trickle.connected.is_set()
        assert receiver.bodies and receiver.bodies[0]["comment"]["body_html"] == (
            "<p>then another site's</p>\n"
        )
        assert len(mailbox.messages) == 1 and "fast" in mailbox.messages[0]["Subject"]
        assert took < 2.0, took  # while the slow one was still trickling
        assert trickle.open_connections == 1
    finally:
        sender.stop(timeout=10)
