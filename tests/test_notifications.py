"""Contract §7: the notification outbox, delivered to a real HTTP receiver and SMTP server.

Webhooks go to an ``http.server`` on 127.0.0.1, e-mails to an aiosmtpd server on
127.0.0.1; the tests verify signatures, escaping, one-use links and unsubscribing the way
a receiver or a reader would.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update
from support import free_port, kill_hard, post_json

from service.cli.main import main

BASE = "/api/v1/sites/blog"
PUBLIC_URL = "http://127.0.0.1:8000"
LINK_RE = re.compile(r"http://127\.0\.0\.1:8000/links/[A-Za-z0-9_.\-]+")
UNSUBSCRIBE_RE = re.compile(r"http://127\.0\.0\.1:8000/unsubscribe/[A-Za-z0-9_.\-]+")
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


# --- real peers -----------------------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver; answers the queued statuses first, then 200."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.deliveries


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(state.delay)
            with lock:
                state.deliveries.append(Delivery(dict(self.headers), body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield Smtp(controller.port, mailbox)
    controller.stop()


# --- the app, with migrations (the CLI commands apply them too) and SMTP on -----------------


def notify_config(app_config: dict[str, Any], smtp: Smtp) -> dict[str, Any]:
    """Mails go to the test's SMTP server; webhooks may go to 127.0.0.1, where the receiver
    listens (tests of the refusal turn that off)."""
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "SMTP_FROM": "Ranklet <ranklet@example.com>",
        "WEBHOOK_ALLOW_PRIVATE": True,
    }


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: Smtp) -> dict[str, Any]:
    return {**notify_config(app_config, smtp), "PUBLIC_URL": PUBLIC_URL}


@pytest.fixture
def app(migrated_app: Any) -> Any:
    return migrated_app


def ranklet(app: Any, *args: str, input: str | None = None) -> Any:
    result = app.test_cli_runner().invoke(main, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def set_webhook(app: Any, url: str, slug: str = "blog") -> str:
    out = ranklet(app, "site", "update", slug, "--webhook", url, "--json").stdout
    data = json.loads(out)
    assert data["site"] == slug
    assert data["webhook_secret"].startswith("whsec_")
    return str(data["webhook_secret"])


def post(client: Any, status: int = 201, **fields: Any) -> dict[str, Any]:
    fields.setdefault("article", "/posts/1")
    fields.setdefault("body", "Hello")
    answer = client.post(f"{BASE}/comments", json=fields)
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def deliver(app: Any, **options: Any) -> int:
    from service.notify.sender import deliver_due

    with app.app_context():
        return deliver_due(**options)


def rows(app: Any) -> list[Any]:
    from service.core.extensions import db
    from service.db.models import Notification

    with app.app_context():
        found = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        db.session.expunge_all()
        return list(found)


def comment_row(app: Any, comment_id: int) -> Any:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        found = db.session.get(Comment, comment_id)
        db.session.expunge_all()
        return found


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (the README shows the same few lines)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])


def texts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


# --- webhooks -------------------------------------------------------------------------------


def test_webhook_is_signed_and_carries_no_private_data(app, client, make_site, receiver):
    make_site("blog")
    secret = set_webhook(app, receiver.url)

    created = post(client, author="Reader", email="reader@example.com", body="Hello **world**")
    assert deliver(app) == 1
    [delivery] = receiver.deliveries
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["User-Agent"] == "Ranklet"
    assert verify_signature(secret, delivery.headers["X-Ranklet-Signature"], delivery.body)
    assert not verify_signature(
        "whsec_wrong", delivery.headers["X-Ranklet-Signature"], delivery.body
    )
    tampered = delivery.body.replace(b"world", b"w0rld")
    assert not verify_signature(secret, delivery.headers["X-Ranklet-Signature"], tampered)
    event = delivery.json()
    assert delivery.body == json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    assert event["event"] == "comment.created"
    assert event["site"] == "blog"
    assert event["comment"]["id"] == created["comment"]["id"]
    assert event["comment"]["status"] == "approved"
    assert event["comment"]["article"] == "/posts/1"
    assert event["comment"]["author"] == "Reader"
    assert "<strong>world</strong>" in event["comment"]["body_html"]
    assert "email" not in event["comment"]
    for private in (b"reader@example.com", b"127.0.0.1", b"ip"):
        assert private not in delivery.body.lower()

    ranklet(app, "site", "update", "blog", "--moderation", "all")
    held = post(client, status=202, body="Wait for me", email="second@example.com")
    assert deliver(app) == 1
    event = receiver.deliveries[1].json()
    assert event["event"] == "comment.pending"
    assert event["comment"]["id"] == held["comment"]["id"]
    assert event["comment"]["status"] == "pending"
    assert b"second@example.com" not in receiver.deliveries[1].body
    assert verify_signature(
        secret, receiver.deliveries[1].headers["X-Ranklet-Signature"], receiver.deliveries[1].body
    )
    assert [r.status for r in rows(app)] == ["done", "done"]
    assert deliver(app) == 0  # nothing twice


def test_webhook_retries_after_a_500(app, client, make_site, receiver):
    from service.db.types import utcnow

    make_site("blog")
    secret = set_webhook(app, receiver.url)
    receiver.statuses = [500]
    post(client, body="Retry me")

    before = utcnow()
    assert deliver(app) == 0
    [row] = rows(app)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "HTTP 500 from the webhook"
    assert row.claimed_until is None
    assert timedelta(seconds=5) <= row.next_attempt_at - before <= timedelta(seconds=30)

    assert deliver(app) == 0  # not due yet
    assert len(receiver.deliveries) == 1

    assert deliver(app, now=utcnow() + timedelta(seconds=31)) == 1
    first, second = receiver.deliveries
    assert first.body == second.body
    assert verify_signature(secret, second.headers["X-Ranklet-Signature"], second.body)
    [row] = rows(app)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)
    assert row.done_at is not None


def test_webhook_gives_up_after_retrying_for_over_an_hour(app, client, make_site, refused_port):
    from service.db.types import utcnow
    from service.notify.sender import MAX_ATTEMPTS

    make_site("blog")
    set_webhook(app, f"http://127.0.0.1:{refused_port}/closed")
    post(client)
    start = clock = utcnow()
    delays = []
    for _attempt in range(MAX_ATTEMPTS):
        assert deliver(app, now=clock) == 0
        [row] = rows(app)
        if row.status == "failed":
            break
        delays.append(row.next_attempt_at - clock)
        clock = row.next_attempt_at
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "unreachable" in row.last_error
    assert delays[0] <= timedelta(seconds=30)
    assert delays == sorted(delays)
    assert max(delays) <= timedelta(minutes=15)
    assert clock - start >= timedelta(hours=1)
    assert deliver(app, now=clock + timedelta(days=1)) == 0  # failed rows stay failed


def test_concurrent_senders_deliver_each_row_once(app, client, make_site, receiver):
    make_site("blog")
    set_webhook(app, receiver.url)
    receiver.delay = 0.05
    ids = {post(client, body=f"Comment {n}")["comment"]["id"] for n in range(6)}
    results: list[int] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            results.append(deliver(app, limit=10))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sum(results) == 6
    assert sorted(d.json()["comment"]["id"] for d in receiver.deliveries) == sorted(ids)
    assert {r.status for r in rows(app)} == {"done"}


def test_a_lapsed_claim_is_taken_over(app, client, make_site, receiver):
    """A sender that died mid-delivery leaves a claim; another sender takes over after it."""
    from service.core.extensions import db
    from service.db.models import Notification
    from service.db.types import utcnow

    make_site("blog")
    set_webhook(app, receiver.url)
    post(client)
    with app.app_context():
        db.session.execute(
            update(Notification).values(claimed_until=utcnow() + timedelta(seconds=60), attempts=1)
        )
        db.session.commit()
    assert deliver(app) == 0
    assert receiver.deliveries == []
    assert deliver(app, now=utcnow() + timedelta(seconds=61)) == 1
    assert len(receiver.deliveries) == 1


def test_worker_command_delivers(app, client, make_site, receiver):
    make_site("blog")
    set_webhook(app, receiver.url)
    post(client)
    assert ranklet(app, "worker", "--once").stdout == "1 delivered, 0 to retry or skipped.\n"
    assert len(receiver.deliveries) == 1


@pytest.mark.slow
def test_nothing_lost_when_the_server_is_killed(start_server, server_database, receiver):
    allow = {"RANKLET_WEBHOOK_ALLOW_PRIVATE": "true"}  # the receiver is on 127.0.0.1
    first = start_server(
        workers=1, env={**server_database, **allow, "RANKLET_NOTIFY_WORKER": "false"}
    )
    first.create_site("blog")
    out = first.cli("site", "update", "blog", "--webhook", receiver.url, "--json")
    secret = json.loads(out)["webhook_secret"]
    status, answer = post_json(f"{first.base}{BASE}/comments", {"article": "/a", "body": "Survive"})
    assert status == 201, answer
    kill_hard(first.process)
    time.sleep(1)
    assert receiver.deliveries == []

    instance = Path(first.env["RANKLET_INSTANCE_PATH"])
    start_server(workers=2, env={**server_database, **allow}, instance=instance)
    [delivery] = receiver.wait_for(1)
    assert verify_signature(secret, delivery.headers["X-Ranklet-Signature"], delivery.body)
    assert delivery.json()["comment"]["id"] == answer["comment"]["id"]
    time.sleep(3)  # two workers, two sender threads: still one delivery
    assert len(receiver.deliveries) == 1


# --- webhooks aimed inside: RANKLET_WEBHOOK_ALLOW_PRIVATE ----------------------------------

NON_PUBLIC_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:22/",
    "http://0/",
    "http://0.0.0.0:8000/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://localhost:8080/",
    "http://api.localhost/",
    "https://LOCALHOST./",
]


@pytest.mark.parametrize("url", NON_PUBLIC_URLS)
def test_webhook_url_to_a_non_public_address_is_refused_when_set(app, make_site, url):
    from service.sites.webhook_target import url_refusal

    assert url_refusal(url, allow_private_targets=True) is None
    reason = url_refusal(url, allow_private_targets=False)
    assert reason and "RANKLET_WEBHOOK_ALLOW_PRIVATE" in reason
    make_site("blog")
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    result = app.test_cli_runner().invoke(main, ["site", "update", "blog", "--webhook", url])
    assert result.exit_code != 0
    assert "the webhook is refused" in result.output
    assert "public addresses only" in result.output


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/r", "http://93.184.216.34/hook", "https://[2606:4700::1]:8443/"],
)
def test_webhook_url_to_a_public_address_is_accepted(url):
    from service.sites.webhook_target import url_refusal

    assert url_refusal(url, allow_private_targets=False) is None


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """getaddrinfo for hooks.example.test answering ``answers`` in turn (the last sticks)."""
    import socket

    from service.sites import webhook_target

    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        address = answers[min(len(asked), len(answers) - 1)]
        asked.append(address)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(webhook_target.socket, "getaddrinfo", getaddrinfo)
    return asked


def test_delivery_to_a_name_resolving_inside_fails_for_good(app, client, make_site, receiver):
    """``localhost`` is refused when set; at delivery, any name is checked on the address
    it resolves to, with no retry: the receiver hears nothing."""
    make_site("blog")
    set_webhook(app, f"http://localhost:{urlsplit(receiver.url).port}/hook")  # allowed: set
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False  # then the operator turns private off
    post(client)
    assert deliver(app) == 0
    [row] = rows(app)
    assert row.status == "failed"
    assert row.last_error.startswith("webhook refused: localhost is this machine")
    assert receiver.deliveries == []


def test_delivery_checks_the_resolved_address(app, client, make_site, receiver, monkeypatch):
    make_site("blog")
    port = urlsplit(receiver.url).port
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    set_webhook(app, f"http://hooks.example.test:{port}/hook")  # a name: no DNS when set
    asked = _fake_dns(monkeypatch, ["127.0.0.1"])
    post(client)
    assert deliver(app) == 0
    [row] = rows(app)
    assert row.status == "failed"
    assert "hooks.example.test resolves to 127.0.0.1 is a loopback address" in row.last_error
    assert asked == ["127.0.0.1"]
    assert receiver.deliveries == []


def test_delivery_connects_to_the_address_it_checked(app, client, make_site, receiver, monkeypatch):
    """DNS rebinding: the name resolves once per delivery; the POST goes to that address,
    whatever a second lookup would say, with the URL's own Host header."""
    from service.sites import webhook_target

    make_site("blog")
    port = urlsplit(receiver.url).port
    set_webhook(app, f"http://hooks.example.test:{port}/hook")
    asked = _fake_dns(monkeypatch, ["127.0.0.1", "192.0.2.1"])
    post(client)
    assert deliver(app) == 1  # private allowed here: delivered to the first answer
    [delivery] = receiver.deliveries
    assert delivery.headers["Host"] == f"hooks.example.test:{port}"
    assert asked == ["127.0.0.1"]

    # Private off: a public first answer is connected to, never a later private one.
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    asked.clear()
    _fake_dns(monkeypatch, ["93.184.216.34", "127.0.0.1"])
    connected: list[Any] = []

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("not in a test")

    monkeypatch.setattr(webhook_target.socket, "create_connection", create_connection)
    post(client, body="Second")
    assert deliver(app) == 0
    assert connected == [("93.184.216.34", port)]
    second = rows(app)[-1]
    assert second.status == "queued"  # unreachable is retried; refused is not
    assert "webhook unreachable" in second.last_error
    assert len(receiver.deliveries) == 1


def test_a_redirect_from_the_webhook_is_a_failure(app, client, make_site, receiver):
    make_site("blog")
    set_webhook(app, receiver.url)
    receiver.statuses = [302]
    post(client)
    assert deliver(app) == 0
    [row] = rows(app)
    assert row.last_error == "HTTP 302 from the webhook"
    assert row.status == "queued"


# --- e-mail to the author -----------------------------------------------------------------


def _links(message: EmailMessage) -> list[str]:
    plain, rich = texts(message)
    found = LINK_RE.findall(plain)
    assert found == LINK_RE.findall(rich)  # the same links in both parts
    return found


def test_author_email_is_escaped_and_its_links_work_once(app, client, make_site, smtp):
    make_site("blog", moderation="all", notify_email="author@example.com", name="My <Blog>")
    body = "Hi <script>alert(1)</script> **bold** & [link](https://example.org/x)"
    held = post(
        client,
        status=202,
        author="<b>Eve</b>",
        email="eve@example.com",
        body=body,
        article_title="Title & <i>more</i>",
        article_url="https://blog.example.com/posts/1",
    )
    comment_id = held["comment"]["id"]
    assert deliver(app) == 1
    [message] = smtp.messages
    assert smtp.mailbox.recipients == [["author@example.com"]]
    assert message["To"] == "author@example.com"
    assert message["From"] == "Ranklet <ranklet@example.com>"
    assert message["Subject"] == "[My <Blog>] 承認待ちのコメント：Title & <i>more</i>"
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = texts(message)

    assert "<b>Eve</b>さんが「Title & <i>more</i>」にコメントしました。" in plain
    assert "> Hi <script>alert(1)</script> bold & link" in plain
    assert "https://blog.example.com/posts/1" in plain
    assert "<script" not in rich and "<b>" not in rich and "<i>" not in rich
    assert "<strong>" not in rich  # no comment markup is trusted into the e-mail
    assert "&lt;b&gt;Eve&lt;/b&gt;" in rich
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt; bold &amp; link" in rich
    assert "eve@example.com" not in message.as_string()

    approve, _spam, delete = _links(message)
    page = client.get(urlsplit(approve).path)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert '<form method="post"><button type="submit">承認する</button></form>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert comment_row(app, comment_id).status == "pending"  # a GET changes nothing

    done = client.post(urlsplit(approve).path)
    assert done.status_code == 200
    assert "コメントを承認しました。" in done.get_data(as_text=True)
    assert comment_row(app, comment_id).status == "approved"
    thread = client.get(f"{BASE}/comments?article=/posts/1").get_json()
    assert [c["id"] for c in thread["comments"]] == [comment_id]

    again = client.post(urlsplit(approve).path)
    assert again.status_code == 410
    assert "使用済み" in again.get_data(as_text=True)
    assert again.headers["Content-Security-Policy"] == PAGE_CSP
    assert client.get(urlsplit(approve).path).status_code == 410

    gone = client.post(urlsplit(delete).path)
    assert gone.status_code == 200
    assert comment_row(app, comment_id).status == "deleted"
    assert client.post(urlsplit(delete).path).status_code == 410
    assert client.get(f"{BASE}/comments?article=/posts/1").get_json()["total"] == 0


def test_an_approve_link_cannot_delete(app, client, make_site, smtp, monkeypatch):
    from itsdangerous import BadSignature, TimestampSigner

    from service.notify import email_links

    make_site("blog", moderation="all", notify_email="author@example.com", lang="en")
    comment_id = post(client, status=202, body="Please approve")["comment"]["id"]
    assert deliver(app) == 1
    approve, _spam, delete = (urlsplit(u).path for u in _links(smtp.messages[0]))
    assert smtp.messages[0]["Subject"] == "[blog] Comment awaiting approval on /posts/1"

    with app.test_request_context():
        # Signed for approving but claiming to delete: refused, like any forgery.
        crossed = email_links._moderation_serializer("approve").dumps(
            {"c": comment_id, "a": "delete", "n": "nonce-1"}
        )
        # A delete token is no approve token, and the other way round.
        approve_token = approve.rsplit("/", 1)[1]
        assert email_links.read_moderation_token(approve_token).action == "approve"
        with pytest.raises(BadSignature):
            email_links._moderation_serializer("delete").loads(approve_token)
    assert client.post(f"/links/{crossed}").status_code == 403
    # Whatever the form says, an approve link approves.
    assert client.post(approve, data={"action": "delete"}).status_code == 200
    assert comment_row(app, comment_id).status == "approved"

    forged = delete[:-2] + ("AA" if not delete.endswith("AA") else "BB")
    answer = client.post(forged)
    assert answer.status_code == 403
    assert "not valid" in answer.get_data(as_text=True)
    assert comment_row(app, comment_id).status == "approved"

    with app.test_request_context(), monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 8 * 86400)
        old = email_links.moderation_token(comment_id, "delete")
    answer = client.post(f"/links/{old}")
    assert answer.status_code == 400
    assert "expired" in answer.get_data(as_text=True)
    assert client.get(f"/links/{old}").status_code == 400
    assert comment_row(app, comment_id).status == "approved"

    assert client.post(delete).status_code == 200
    assert comment_row(app, comment_id).status == "deleted"


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("ja", "このコメントは承認待ちではありません（現在：削除済み）。"),
        ("en", "This comment is not waiting for approval (it is deleted)."),
    ],
)
def test_an_approve_link_after_a_delete_names_the_status_in_the_sites_language(
    app, client, make_site, smtp, lang, said
):
    make_site("blog", moderation="all", notify_email="author@example.com", lang=lang)
    comment_id = post(client, status=202, body="Please approve")["comment"]["id"]
    assert deliver(app) == 1
    approve, _spam, delete = (urlsplit(u).path for u in _links(smtp.messages[0]))
    done = client.post(delete).get_data(as_text=True)
    assert '<a href="http://127.0.0.1:8000/admin/">' in done  # on to the admin
    # The approve link now says at once that it has nothing to do: no button to press.
    shown = client.get(approve).get_data(as_text=True)
    assert f"<h1>{said}</h1>" in shown and "<form" not in shown
    assert '<a href="http://127.0.0.1:8000/admin/">' in shown
    page = client.post(approve)  # pressed anyway (an old tab): the same answer
    assert page.status_code == 200
    assert f"<h1>{said}</h1>" in page.get_data(as_text=True)
    assert comment_row(app, comment_id).status == "deleted"


# --- e-mail to readers --------------------------------------------------------------------


def confirm_address(app: Any, client: Any, smtp: Smtp) -> None:
    """Deliver the one confirmation mail of a first "notify me" and use its link."""
    assert deliver(app) == 1
    [link] = re.findall(
        r"https?://\S+/confirm/[\w.-]+", smtp.messages[-1].get_body(("plain",)).get_content()
    )
    assert client.post(urlsplit(link).path).status_code == 200


def test_reply_email_and_one_click_unsubscribe(app, client, make_site, smtp):
    make_site("blog", lang="en")
    alice = post(client, author="Alice", email="alice@example.com", notify=True, body="First")
    alice_id = alice["comment"]["id"]
    confirm_address(app, client, smtp)  # double opt-in: tests/test_mail_safety.py
    bob = post(
        client, parent_id=alice_id, author="Bob <b>", email="bob@example.com", body="Reply *one*"
    )["comment"]["id"]
    assert deliver(app) == 1
    [_, message] = smtp.messages
    assert smtp.mailbox.recipients == [["alice@example.com"]] * 2
    assert message["Subject"] == "[blog] Bob <b> replied to your comment"
    [unsubscribe] = UNSUBSCRIBE_RE.findall(message["List-Unsubscribe"])
    assert message["List-Unsubscribe"].strip() == f"<{unsubscribe}>"  # may be folded
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, rich = texts(message)
    assert "> Reply one" in plain and "*one*" not in plain
    assert "> First" in plain  # what they wrote, for context
    assert unsubscribe in plain and unsubscribe in rich
    assert "Bob &lt;b&gt; replied" in rich and "<b>" not in rich and "<em>" not in rich
    assert "bob@example.com" not in message.as_string()

    # Replying to oneself or to a reader who did not ask sends nothing.
    post(client, parent_id=alice_id, author="Alice", email="ALICE@example.com", body="Me again")
    post(client, parent_id=bob, author="Alice", body="To Bob, who did not ask")
    assert [r.kind for r in rows(app)] == ["email_confirm", "email_reply"]
    assert deliver(app) == 0
    assert len(smtp.messages) == 2

    # The GET only asks; a second reply still arrives.
    page = client.get(urlsplit(unsubscribe).path)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    assert '<form method="post">' in page.get_data(as_text=True)
    assert "/admin/" not in page.get_data(as_text=True)  # a reader has no business there
    post(client, parent_id=alice_id, author="Carol", body="Second reply")
    assert deliver(app) == 1
    assert len(smtp.messages) == 3

    one_click = client.post(
        urlsplit(unsubscribe).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 200
    assert "unsubscribed" in one_click.get_data(as_text=True)
    assert client.post(urlsplit(unsubscribe).path).status_code == 200  # idempotent

    post(client, parent_id=alice_id, author="Dave", body="Third reply")
    assert deliver(app) == 0
    assert len(smtp.messages) == 3
    assert [r.status for r in rows(app)] == ["done"] * 4  # Dave's: skipped

    forged = urlsplit(unsubscribe).path[:-3] + "xyz"
    refused = client.post(forged)
    assert refused.status_code == 403
    assert "/admin/" not in refused.get_data(as_text=True)


def test_no_email_while_smtp_is_unset(app, client, make_site, smtp):
    make_site("blog", notify_email="author@example.com")
    app.config["SMTP_HOST"] = None
    parent = post(client, email="alice@example.com", notify=True, body="First")["comment"]["id"]
    post(client, parent_id=parent, body="Reply")
    assert rows(app) == []
    assert deliver(app) == 0

    # Rows queued while e-mail was on wait for a sender that has it.
    app.config["SMTP_HOST"] = "127.0.0.1"
    post(client, body="Third")
    [row] = rows(app)
    assert row.kind == "email_author"
    app.config["SMTP_HOST"] = None
    assert deliver(app) == 0
    [row] = rows(app)
    assert (row.status, row.attempts) == ("queued", 0)
    assert smtp.messages == []
    app.config["SMTP_HOST"] = "127.0.0.1"
    assert deliver(app) == 1
    assert len(smtp.messages) == 1


# --- erasure ------------------------------------------------------------------------------


def test_erase_one_address(app, client, make_site, receiver):
    from service.core.extensions import db
    from service.db.models import Comment, Like

    site = make_site("blog")
    set_webhook(app, receiver.url)
    mine = post(
        client,
        article="/a",
        author="Erin",
        email="Erin@Example.com",
        notify=True,
        website="https://erin.example",
        body="Mine",
    )["comment"]["id"]
    reply = post(
        client,
        article="/a",
        parent_id=mine,
        author="Olga",
        email="olga@example.com",
        body="Reply to Erin",
    )["comment"]["id"]
    other = post(client, article="/b", author="Erin", email="erin@example.com", body="Also mine")[
        "comment"
    ]["id"]
    assert client.post(f"{BASE}/comments/{other}/like").get_json() == {"likes": 1}
    assert len(rows(app)) == 4  # three webhooks and one reply e-mail to Erin

    aborted = app.test_cli_runner().invoke(main, ["erase", "blog", "erin@example.com"], input="n\n")
    assert aborted.exit_code != 0
    assert comment_row(app, mine).author == "Erin"

    out = ranklet(app, "erase", "blog", " ERIN@example.com", input="y\n").stdout
    assert out.splitlines()[-1] == "Erased 2 comments of that address."
    for comment_id in (mine, other):
        row = comment_row(app, comment_id)
        assert row.status == "deleted"
        assert (row.author, row.website, row.email_encrypted, row.email_lookup) == (None,) * 4
        assert (row.body_text, row.body_html, row.likes, row.notify) == ("", "", 0, False)
        assert row.edit_token_hash is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Like)) == 0
        olga = db.session.get(Comment, reply)
        assert (olga.author, olga.body_text, olga.status) == ("Olga", "Reply to Erin", "approved")
    # Only Olga's webhook row is left: Erin's payloads and the e-mail to her are gone.
    assert [r.payload["comment"]["id"] for r in rows(app)] == [reply]

    thread = client.get(f"{BASE}/comments?article=/a").get_json()
    assert thread["total"] == 1
    [placeholder] = thread["comments"]
    assert placeholder["deleted"] is True and placeholder["body_html"] == ""
    assert placeholder["author"] == "名無し" and placeholder["website"] is None
    assert [r["id"] for r in placeholder["replies"]] == [reply]
    assert client.get(f"{BASE}/counts?article=/b").get_json() == {"counts": {"/b": 0}}
    moderation = client.get(f"{BASE}/moderation?status=deleted", headers=site.auth)
    assert moderation.status_code == 200
    text = moderation.get_data(as_text=True)
    assert "Erin" not in text and "erin" not in text.lower() and "Mine" not in text

    assert ranklet(app, "erase", "blog", "erin@example.com", "--yes").stdout.strip() == (
        "Erased 0 comments of that address."
    )
