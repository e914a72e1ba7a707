"""Issue 22, item 4 (contract §7, chat channels): LINE, Slack, Discord and Telegram messages
through the one outbox, each checked against a local fake of the service's API for the exact
request its documentation asks for, on SQLite and PostgreSQL (the app built by migrations)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from service.cli.main import main
from service.core.extensions import db
from service.db.models import Notification, Site
from service.db.types import utcnow

BASE = "/api/v1/sites/blog"
PUBLIC_URL = "http://127.0.0.1:8000"
LINE_TO = "U" + "0123456789abcdef" * 2
LINE_TOKEN = "Zm9vYmFyLWxpbmUtdG9rZW4+/="
TELEGRAM_TOKEN = "123456789:AAH-abcdefghijklmnopqrstuvwxyz_012"
TELEGRAM_CHAT = "-1001234567890"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeApi:
    """Stands in for api.line.me, api.telegram.org and the Slack and Discord webhooks."""

    base: str = ""
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    state = FakeApi()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.requests.append(Request(self.path, dict(self.headers), body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_config(app_config: dict[str, Any], fake: FakeApi) -> dict[str, Any]:
    return {
        **app_config,
        "PUBLIC_URL": PUBLIC_URL,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "CHAT_API_BASES": {"line": fake.base, "telegram": fake.base + "/tg"},
    }


@pytest.fixture
def app(migrated_app: Any) -> Any:
    return migrated_app


def ranklet(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(main, list(args))


def setting(channel: str, fake: FakeApi) -> str:
    return {
        "line": f"{LINE_TOKEN}:{LINE_TO}",
        "slack": f"{fake.base}/services/T000/B000/XXXX",
        "discord": f"{fake.base}/api/webhooks/123/abc",
        "telegram": f"{TELEGRAM_TOKEN}:{TELEGRAM_CHAT}",
    }[channel]


def make_blog(app: Any, *options: str) -> None:
    created = ranklet(app, "site", "create", "blog", "--origin", "https://blog.example.com")
    assert created.exit_code == 0, created.output
    updated = ranklet(app, "site", "update", "blog", *options)
    assert updated.exit_code == 0, updated.output


def deliver(app: Any, **options: Any) -> int:
    from service.notify.sender import deliver_due

    with app.app_context():
        return deliver_due(**options)


def post(client: Any, **fields: Any) -> dict[str, Any]:
    fields.setdefault("article", "/posts/1")
    fields.setdefault("body", "Hello")
    answer = client.post(f"{BASE}/comments", json=fields)
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()


def message_of(channel: str, request: Request) -> str:
    body = request.json()
    return {
        "line": lambda: body["messages"][0]["text"],
        "slack": lambda: body["text"],
        "discord": lambda: body["content"],
        "telegram": lambda: body["text"],
    }[channel]()


CHANNELS = ("line", "slack", "discord", "telegram")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_new_comment_reaches_the_channel_in_the_documented_shape(app, client, fake, channel):
    make_blog(app, f"--notify-{channel}", setting(channel, fake))
    client.post(
        f"{BASE}/comments",
        json={"article": "/posts/1", "article_title": "経営の話", "body": "**良い** & <記事>",
              "author": "山田", "email": "yamada@example.org"},
    )  # fmt: skip
    assert deliver(app) == 1
    [request] = fake.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    body = request.json()
    if channel == "line":
        assert request.path == "/v2/bot/message/push"
        assert request.headers["Authorization"] == f"Bearer {LINE_TOKEN}"
        assert set(body) == {"to", "messages"} and body["to"] == LINE_TO
        assert len(body["messages"]) == 1 and set(body["messages"][0]) == {"type", "text"}
        assert body["messages"][0]["type"] == "text"
    elif channel == "telegram":
        assert request.path == f"/tg/bot{TELEGRAM_TOKEN}/sendMessage"
        assert body == {"chat_id": TELEGRAM_CHAT, "text": body["text"]}
    elif channel == "slack":
        assert request.path == "/services/T000/B000/XXXX" and set(body) == {"text"}
    else:
        assert request.path == "/api/webhooks/123/abc"
        assert body == {"content": body["content"], "allowed_mentions": {"parse": []}}
    if channel != "line":
        assert "Authorization" not in request.headers  # the token is in the URL or none
    text = message_of(channel, request)
    lines = text.split("\n")
    assert lines[0] == "【blog】山田さんが「経営の話」にコメントしました"
    quote = "良い &amp; &lt;記事&gt;" if channel == "slack" else "良い & <記事>"
    assert lines[1] == quote
    assert lines[2] == "記事：https://blog.example.com/posts/1"
    assert lines[3].startswith(f"削除する：{PUBLIC_URL}/links/")
    assert lines[4] == f"管理画面：{PUBLIC_URL}/admin/moderation?status=approved"
    assert "yamada@example.org" not in request.body.decode()


def test_a_held_comment_carries_approve_and_delete_links_that_work(app, client, fake):
    make_blog(app, "--moderation", "all", "--lang", "en", "--notify-telegram",
              setting("telegram", fake))  # fmt: skip
    comment = post(client, body="Please approve", author="Ann")["comment"]
    assert deliver(app) == 1
    text = fake.requests[0].json()["text"]
    lines = text.split("\n")
    assert lines[0] == "[blog] A comment by Ann on “/posts/1” awaits your approval"
    assert lines[1] == "Please approve"
    approve = lines[3].removeprefix("Approve: ")
    assert lines[3].startswith("Approve: ") and lines[4].startswith("Delete: ")
    assert lines[5] == f"Admin: {PUBLIC_URL}/admin/moderation?status=pending"
    path = approve.removeprefix(PUBLIC_URL)
    assert client.get(path).status_code == 200  # a preview's GET only asks
    assert client.post(path).status_code == 200
    page = client.get(f"{BASE}/comments?article=/posts/1").get_json()
    assert [c["id"] for c in page["comments"]] == [comment["id"]]


def test_a_new_best_rank_is_announced_and_the_authors_own_comment_is_not(app, client, fake):
    make_blog(app, "--notify-discord", setting("discord", fake))
    created = ranklet(app, "token", "rotate", "blog", "--json")
    token = json.loads(created.stdout)["token"]
    auth = {"Authorization": f"Bearer {token}"}
    client.post(f"{BASE}/comments", json={"article": "/p", "body": "mine"}, headers=auth)
    client.post(f"{BASE}/rankings", json={"positions": {"consulting": 4}}, headers=auth)
    client.post(f"{BASE}/rankings", json={"positions": {"consulting": 7}}, headers=auth)
    assert deliver(app) == 1
    content = fake.requests[0].json()["content"]
    assert content.split("\n") == [
        "【blog】コンサルタントランキングで最高順位を更新しました：4位（初めての記録）",
        f"管理画面：{PUBLIC_URL}/admin/rankings",
    ]


def test_failures_are_retried_and_a_revoked_token_fails_for_good(app, client, fake):
    make_blog(app, "--notify-line", setting("line", fake))
    fake.statuses = [500]
    post(client)
    assert deliver(app) == 0
    with app.app_context():
        row = db.session.scalars(select(Notification).where(Notification.kind == "chat")).one()
        assert (row.status, row.attempts, row.last_error) == (
            "queued",
            1,
            "HTTP 500 from the line API",
        )
    assert deliver(app, now=utcnow() + timedelta(seconds=30)) == 1
    first, again = (message_of("line", r).split("\n") for r in fake.requests)
    assert len(fake.requests) == 2 and first[:2] == again[:2]  # each try signs a fresh link
    fake.statuses = [401]
    post(client)
    assert deliver(app) == 0
    with app.app_context():
        last = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
        assert (last.status, last.last_error) == ("failed", "HTTP 401 from the line API")


def test_secrets_are_encrypted_and_never_printed(app, fake):
    make_blog(app)
    values = [setting(channel, fake) for channel in CHANNELS]
    options = [a for c, v in zip(CHANNELS, values, strict=True) for a in (f"--notify-{c}", v)]
    answer = ranklet(app, "site", "update", "blog", "--json", *options)
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout) == {"site": "blog", "chat": list(CHANNELS)}
    with app.app_context():
        stored = db.session.scalars(select(Site)).one().chat_encrypted
    assert stored.startswith("v1:")
    for secret in (LINE_TOKEN, TELEGRAM_TOKEN, "/services/T000", "webhooks/123"):
        assert secret not in stored and secret not in answer.output
    removed = ranklet(app, "site", "update", "blog", "--notify-slack", "", "--notify-line", "")
    assert removed.output.endswith("Chat channels: discord, telegram\n")


@pytest.mark.parametrize(
    ("channel", "value", "words"),
    [
        ("line", f"{LINE_TOKEN}", "LINE needs CHANNEL_ACCESS_TOKEN:TO"),
        ("line", f"{LINE_TOKEN}:U123", "LINE needs CHANNEL_ACCESS_TOKEN:TO"),
        ("telegram", "notatoken:123", "Telegram needs BOT_TOKEN:CHAT_ID"),
        ("slack", "hooks.slack.com/services/x", "Slack needs the incoming webhook's https URL"),
    ],
)
def test_a_bad_channel_is_explained_without_echoing_it(app, channel, value, words):
    make_blog(app)
    refused = ranklet(app, "site", "update", "blog", f"--notify-{channel}", value)
    assert refused.exit_code != 0
    assert f"notify_{channel}: {words}" in refused.output
    assert value not in refused.output


def test_the_private_address_rule_holds_for_chat_channels(app_config, new_app, fake):
    from service.cli.context import upgrade
    from service.sites.settings import SiteError, SiteSettings, create_site, get_site

    strict = new_app({**app_config, "WEBHOOK_ALLOW_PRIVATE": False})
    with strict.app_context():
        upgrade()
        create_site("blog", SiteSettings(origins=["https://blog.example.com"],
                                         notify_line=setting("line", fake)))  # fmt: skip
        with pytest.raises(
            SiteError, match=r"the Slack webhook is refused: 127\.0\.0\.1 is a loopback"
        ):
            from service.sites.settings import update_site

            update_site(get_site("blog"), SiteSettings(notify_slack=setting("slack", fake)))
        db.session.rollback()
    post(strict.test_client())
    assert deliver(strict) == 0
    with strict.app_context():
        row = db.session.scalars(select(Notification)).one()
        assert row.status == "failed" and row.last_error.startswith("line API refused: ")
    assert fake.requests == []


def test_the_api_bases_move_only_under_testing(app):
    from service.notify.chat import request_for

    with app.app_context():
        assert request_for("line", {"token": "t", "to": "U"}, "hi")[0].startswith(
            "http://127.0.0.1"
        )
        app.config["TESTING"] = False
        try:
            url, body, headers = request_for("line", {"token": "t", "to": "U"}, "x" * 6000)
        finally:
            app.config["TESTING"] = True
    assert url == "https://api.line.me/v2/bot/message/push"
    assert headers == {"Authorization": "Bearer t"}
    assert len(body["messages"][0]["text"]) == 5000
