"""Contract §7 "Rank events": ``ranking.best`` (and opt-in ``ranking.recorded``).

Delivered through the outbox to a real HTTP receiver (signature checked as a receiver
would) and a real aiosmtpd server, on SQLite and PostgreSQL, including a hard kill of the
server between recording and delivery.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_notifications as notifications
from sqlalchemy import func, select
from support import SiteInfo, kill_hard, post_json
from test_notifications import Receiver, Smtp, texts, verify_signature

from service.cli.main import main

BASE = "/api/v1/sites/blog"

# The real peers of the comment notification tests: an http.server and an aiosmtpd server.
receiver = notifications.receiver
smtp = notifications.smtp


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: Smtp) -> dict[str, Any]:
    return notifications.notify_config(app_config, smtp)


@pytest.fixture
def app(app_config: dict[str, Any], new_app: Any) -> Any:
    """Migrated by the same code as ``ranklet db upgrade`` (the 0002 columns included)."""
    from service.cli.context import upgrade

    application = new_app(app_config)
    with application.app_context():
        upgrade()
    return application


def ranklet(app: Any, *args: str) -> Any:
    result = app.test_cli_runner().invoke(main, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def site(app: Any, receiver: Receiver) -> tuple[SiteInfo, str]:
    """Site ``blog`` (ja) with a webhook and a notify address; returns it with the secret."""
    out = ranklet(app, "site", "create", "blog", "--origin", "https://blog.example.com", "--json")
    data = json.loads(out.stdout)
    out = ranklet(
        app,
        "site",
        "update",
        "blog",
        "--webhook",
        receiver.url,
        "--notify-email",
        "author@example.com",
        "--json",
    )
    return SiteInfo(data["site"], data["token"]), json.loads(out.stdout)["webhook_secret"]


def record(client: Any, info: SiteInfo, positions: dict[str, Any], at: str | None = None) -> Any:
    body: dict[str, Any] = {"positions": positions}
    if at:
        body["observed_at"] = at
    answer = client.post(f"{BASE}/rankings", json=body, headers=info.auth)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def deliver(app: Any, now: datetime | None = None) -> int:
    from service.notify.sender import deliver_due

    with app.app_context():
        return deliver_due(now=now)


def queued(app: Any) -> list[tuple[str, dict[str, Any]]]:
    from service.core.extensions import db
    from service.db.models import Notification

    with app.app_context():
        found = db.session.execute(
            select(Notification.kind, Notification.payload).order_by(Notification.id)
        ).all()
        return [(kind, payload) for kind, payload in found]


def events(deliveries: list[Any], secret: str) -> list[dict[str, Any]]:
    for delivery in deliveries:
        assert delivery.headers["Content-Type"] == "application/json"
        assert verify_signature(secret, delivery.headers["X-Ranklet-Signature"], delivery.body)
    return [d.json() for d in deliveries]


def test_first_entries_and_a_new_best_are_signed_webhooks_and_mails(app, site, receiver, smtp):
    info, secret = site
    client = app.test_client()
    record(client, info, {"consulting": 4, "marketing": 9}, "2024-01-01T09:00:00+09:00")
    assert deliver(app) == 4  # two webhooks, two mails
    first = sorted(events(receiver.deliveries, secret), key=lambda e: e["category"]["key"])
    assert first == [
        {
            "event": "ranking.best",
            "site": "blog",
            "category": {"key": "consulting", "label": "コンサルタント"},
            "position": 4,
            "previous_best": None,
            "observed_at": "2024-01-01T00:00:00Z",
        },
        {
            "event": "ranking.best",
            "site": "blog",
            "category": {"key": "marketing", "label": "マーケティング"},
            "position": 9,
            "previous_best": None,
            "observed_at": "2024-01-01T00:00:00Z",
        },
    ]
    assert sorted(m["Subject"] for m in smtp.messages) == [
        "[blog] コンサルタントランキングで最高順位を更新しました：4位（初めての記録）",
        "[blog] マーケティングランキングで最高順位を更新しました：9位（初めての記録）",
    ]
    assert {m["To"] for m in smtp.messages} == {"author@example.com"}

    # Equal and worse send nothing; a better one in the same batch as a worse one: one event.
    before = len(queued(app))
    record(client, info, {"consulting": 4, "marketing": 12}, "2024-01-02T00:00:00Z")
    assert len(queued(app)) == before and deliver(app) == 0
    record(client, info, {"consulting": 3, "marketing": 10}, "2024-01-03T00:00:00Z")
    assert deliver(app) == 2
    [best] = events(receiver.deliveries[2:], secret)
    assert best == {
        "event": "ranking.best",
        "site": "blog",
        "category": {"key": "consulting", "label": "コンサルタント"},
        "position": 3,
        "previous_best": {"position": 4, "observed_at": "2024-01-01T00:00:00Z"},
        "observed_at": "2024-01-03T00:00:00Z",
    }
    mail = smtp.messages[-1]
    assert (
        mail["Subject"]
        == "[blog] コンサルタントランキングで最高順位を更新しました：3位（前回の最高 4位）"
    )
    plain, rich = texts(mail)
    assert plain.startswith(
        "コンサルタントランキングで最高順位を更新しました：3位（前回の最高 4位）\n"
    )
    assert "記録日時：2024-01-03 09:00 JST" in plain  # the site's time zone (ja: Asia/Tokyo)
    assert "3位（前回の最高 4位）" in rich
    assert deliver(app) == 0  # delivered once


def test_english_mail_and_the_rank_set_command(app, site, receiver, smtp):
    _, secret = site
    ranklet(app, "site", "update", "blog", "--lang", "en")
    ranklet(app, "rank", "set", "blog", "consulting", "4", "--at", "2024-01-01T00:00:00Z")
    ranklet(app, "rank", "set", "blog", "consulting", "3", "--at", "2024-01-02T00:00:00Z")
    assert deliver(app) == 4
    assert [e["category"]["label"] for e in events(receiver.deliveries, secret)] == [
        "Consulting",
        "Consulting",
    ]
    assert [m["Subject"] for m in smtp.messages] == [
        "[blog] New best rank in Consulting: #4 (the first entry)",
        "[blog] New best rank in Consulting: #3 (previous best #4)",
    ]


def test_an_import_is_one_batch_with_the_best_of_the_batch(app, site, receiver, smtp, tmp_path):
    info, secret = site
    record(app.test_client(), info, {"consulting": 8}, "2023-12-01T00:00:00Z")
    deliver(app)
    receiver.deliveries.clear()
    path = tmp_path / "ranks.csv"
    path.write_text(
        "category,position,observed_at\n"
        "consulting,7,2024-01-01T00:00:00Z\n"
        "consulting,5,2024-02-01T00:00:00Z\n"
        "consulting,5,2024-03-01T00:00:00Z\n"
        "consulting,6,2024-04-01T00:00:00Z\n"
        "marketing,30,2024-01-01T00:00:00Z\n"
        "marketing,20,2024-02-01T00:00:00Z\n"
        "management,9,2023-01-01T00:00:00Z\n"
    )
    ranklet(app, "rank", "import", str(path), "--site", "blog", "--dry-run")
    assert deliver(app) == 0  # a dry run queues nothing
    ranklet(app, "rank", "import", str(path), "--site", "blog")
    assert deliver(app) == 6
    got = {e["category"]["key"]: e for e in events(receiver.deliveries, secret)}
    assert got["consulting"]["position"] == 5
    assert got["consulting"]["observed_at"] == "2024-02-01T00:00:00Z"  # first reached
    assert got["consulting"]["previous_best"] == {
        "position": 8,
        "observed_at": "2023-12-01T00:00:00Z",
    }
    assert got["marketing"]["position"] == 20 and got["marketing"]["previous_best"] is None
    assert got["management"]["position"] == 9
    ranklet(app, "rank", "import", str(path), "--site", "blog")  # again: nothing new
    assert deliver(app) == 0


def test_rank_events_setting(app, site, receiver, smtp):
    info, secret = site
    client = app.test_client()
    ranklet(app, "site", "update", "blog", "--rank-events", "all")
    record(client, info, {"consulting": 4, "marketing": 9}, "2024-01-01T00:00:00Z")
    record(client, info, {"consulting": 5}, "2024-01-02T00:00:00Z")
    assert deliver(app) == 6  # 2 best webhooks + 2 mails, 2 recorded webhooks (no mail)
    got = events(receiver.deliveries, secret)
    recorded = [e for e in got if e["event"] == "ranking.recorded"]
    assert recorded == [
        {
            "event": "ranking.recorded",
            "site": "blog",
            "entries": 2,
            "categories": [
                {
                    "key": "consulting",
                    "label": "コンサルタント",
                    "position": 4,
                    "observed_at": "2024-01-01T00:00:00Z",
                },
                {
                    "key": "marketing",
                    "label": "マーケティング",
                    "position": 9,
                    "observed_at": "2024-01-01T00:00:00Z",
                },
            ],
        },
        {
            "event": "ranking.recorded",
            "site": "blog",
            "entries": 1,
            "categories": [
                {
                    "key": "consulting",
                    "label": "コンサルタント",
                    "position": 5,
                    "observed_at": "2024-01-02T00:00:00Z",
                }
            ],
        },
    ]
    assert len(smtp.messages) == 2
    ranklet(app, "site", "update", "blog", "--rank-events", "none")
    record(client, info, {"consulting": 1}, "2024-01-03T00:00:00Z")
    assert queued(app)[-1][1]["event"] == "ranking.recorded"  # nothing new was queued
    assert deliver(app) == 0
    bad = app.test_cli_runner().invoke(main, ["site", "update", "blog", "--rank-events", "some"])
    assert bad.exit_code == 2 and "'some' is not one of 'best', 'all', 'none'" in bad.output


def test_a_failed_batch_queues_nothing(app, site, receiver, monkeypatch):
    from service.rankings import history as ranking

    info, _ = site

    def broken(site_id: int) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ranking, "bump_site", broken)
    client = app.test_client()
    answer = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": 1}}, headers=info.auth
    )
    assert answer.status_code == 500 and answer.get_json()["message"]
    monkeypatch.undo()
    assert queued(app) == []
    assert record(client, info, {"marketing": 2})["categories"][0]["entries"] == 0


def test_a_failed_webhook_is_retried(app, site, receiver, smtp):
    info, secret = site
    receiver.statuses = [500]
    record(app.test_client(), info, {"consulting": 2}, "2024-01-01T00:00:00Z")
    assert deliver(app) == 1  # the mail; the webhook got a 500
    assert deliver(app) == 0  # not yet due
    assert deliver(app, now=datetime.now(UTC) + timedelta(seconds=30)) == 1
    first, second = events(receiver.deliveries, secret)
    assert first == second and first["position"] == 2


def test_admin_form_settings_and_the_new_best_flag(app, site, receiver):
    from service.core.extensions import db
    from service.db.models import Site

    info, _ = site
    client = app.test_client()
    with app.app_context():
        target = db.session.scalar(select(Site).where(Site.slug == "blog"))
        assert (target.rank_events, target.best_flag_days) == ("best", 7)
    now = datetime.now(UTC).replace(microsecond=0)
    document = record(client, info, {"consulting": 4}, now.isoformat())
    consulting = document["categories"][0]
    assert consulting["new_best_until"] == (now + timedelta(days=7)).isoformat().replace(
        "+00:00", "Z"
    )
    assert document["categories"][1]["new_best_until"] is None
    ranklet(app, "site", "update", "blog", "--best-flag-days", "0")
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["new_best_until"] is None
    ranklet(app, "site", "update", "blog", "--best-flag-days", "30")
    widget = client.get(f"{BASE}/widget", query_string={"article": "/a"}).get_json()
    assert widget["rankings"][0]["new_best_until"] == (
        now + timedelta(days=30)
    ).isoformat().replace("+00:00", "Z")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Site)) == 1


# --- kill and restart between the record and the delivery ----------------------------------


@pytest.mark.slow
def test_a_new_best_survives_a_killed_server(start_server, server_database, receiver, smtp):
    env = {
        **server_database,
        "RANKLET_WEBHOOK_ALLOW_PRIVATE": "true",
        "RANKLET_SMTP_HOST": "127.0.0.1",
        "RANKLET_SMTP_PORT": str(smtp.port),
        "RANKLET_SMTP_FROM": "ranklet@example.com",
    }
    first = start_server(workers=1, env={**env, "RANKLET_NOTIFY_WORKER": "false"})
    info = first.create_site("blog")
    out = first.cli("site", "update", "blog", "--webhook", receiver.url, "--json")
    first.cli("site", "update", "blog", "--notify-email", "author@example.com", "--lang", "en")
    secret = json.loads(out)["webhook_secret"]
    url = f"{first.base}{BASE}/rankings"
    body = {"positions": {"consulting": 3}, "observed_at": "2024-05-01T00:00:00Z"}
    status, answer = post_json(url, body, {"Authorization": f"Bearer {info.token}"})
    assert status == 200, answer
    kill_hard(first.process)
    time.sleep(1)
    assert receiver.deliveries == [] and smtp.messages == []

    instance = Path(first.env["RANKLET_INSTANCE_PATH"])
    start_server(workers=2, env=env, instance=instance)
    [delivery] = receiver.wait_for(1)
    assert verify_signature(secret, delivery.headers["X-Ranklet-Signature"], delivery.body)
    assert delivery.json() == {
        "event": "ranking.best",
        "site": "blog",
        "category": {"key": "consulting", "label": "Consulting"},
        "position": 3,
        "previous_best": None,
        "observed_at": "2024-05-01T00:00:00Z",
    }
    deadline = time.monotonic() + 30
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["Subject"] for m in smtp.messages] == [
        "[blog] New best rank in Consulting: #3 (the first entry)"
    ]
    time.sleep(3)  # two workers, two sender threads: still one of each
    assert len(receiver.deliveries) == 1 and len(smtp.messages) == 1


# --- the admin pages ------------------------------------------------------------------------


def test_admin_settings_and_the_new_best_flag_on_the_rankings_page(app, site, receiver):
    from test_admin import post_form, sign_in

    info, secret = site
    client = app.test_client()
    assert sign_in(client, info).status_code == 302
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'id="rank_events-best" name="rank_events" value="best" checked' in page
    assert 'id="best_flag_days" name="best_flag_days"' in page and 'value="7"' in page
    settings = {
        "name": "blog",
        "origins": "https://blog.example.com",
        "lang": "ja",
        "moderation": "none",
        "webhook_url": receiver.url,
        "notify_email": "author@example.com",
        "banned_words": "",
    }
    refused = post_form(client, "/admin/settings", {**settings, "best_flag_days": "9" * 400})
    assert refused.status_code == 422
    assert "0 から 365 までの整数を入れてください。" in refused.get_data(as_text=True)
    saved = post_form(
        client, "/admin/settings", {**settings, "rank_events": "all", "best_flag_days": "3"}
    )
    assert saved.status_code == 302
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'value="all" checked' in page and 'value="3"' in page

    answer = post_form(client, "/admin/rankings", {"position-consulting": "５"})
    assert answer.status_code == 302
    page = client.get("/admin/rankings").get_data(as_text=True)
    assert page.count('<strong class="new-best">最高順位更新！</strong>') == 1
    assert deliver(app) == 3  # best webhook + mail, recorded webhook: one admin form batch
    assert sorted(e["event"] for e in events(receiver.deliveries, secret)) == [
        "ranking.best",
        "ranking.recorded",
    ]
    ranklet(app, "site", "update", "blog", "--best-flag-days", "0")
    assert "new-best" not in client.get("/admin/rankings").get_data(as_text=True)
