"""E-mail goes to exactly one mailbox, and reply mail only to an address its owner confirmed.

A reader's address with a comma (``a@b.example,root``) used to add SMTP recipients, and
anyone could subscribe a stranger's address to reply mails. Mail goes to an aiosmtpd
server on 127.0.0.1 that records each envelope's recipients.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from support import free_port

ORIGIN = "https://blog.example.com"
BASE = "/api/v1/sites/blog"
LINK_RE = re.compile(r"https?://\S+/confirm/[\w.-]+")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], mailbox: tuple[Mailbox, int]) -> dict[str, Any]:
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mailbox[1],
        "SMTP_FROM": "Ranklet <ranklet@example.com>",
    }


@pytest.fixture
def app(migrated_app: Any) -> Any:
    return migrated_app


def post(client: Any, status: int = 201, **fields: Any) -> Any:
    fields.setdefault("article", "/posts/1")
    fields.setdefault("body", "Hello")
    answer = client.post(f"{BASE}/comments", json=fields, headers={"Origin": ORIGIN})
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def deliver(app: Any) -> int:
    from service.notify.sender import deliver_due

    with app.app_context():
        return deliver_due()


def kinds(app: Any) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from service.core.extensions import db
    from service.db.models import Notification

    with app.app_context():
        return [
            (row.kind, row.status)
            for row in db.session.scalars(select(Notification).order_by(Notification.id))
        ]


@pytest.mark.parametrize(
    "address",
    [
        "a@b.example,root",
        "a@b.example, root@localhost",
        "a@b.example;root@localhost",
        "Mallory <a@b.example>",
        '"a,b"@b.example',
        "a@b.example (comment)",
        "a@b.example\r\nBcc: root@localhost",
        "a@b.example\nroot@localhost",
        "root@localhost",
        "a..b@b.example",
        "a@[127.0.0.1]",
    ],
)
def test_an_address_that_is_not_exactly_one_mailbox_is_refused(client, make_site, address):
    make_site("blog", lang="en")
    answer = post(client, 422, email=address, notify=True)
    assert list(answer["errors"]) == ["email"], answer
    assert answer["message"]


def test_plain_and_international_mailboxes_are_taken(client, make_site):
    make_site("blog")
    for address in ("a.b+tag@b.example", "たろう@例え.jp", "o'neil@b.example"):
        assert post(client, email=address)["status"] == "approved"


def test_a_stored_list_of_addresses_is_never_sent_to(app, client, make_site, mailbox):
    """Rows written before the rule (or by any path that skipped it) are checked when sent."""
    from sqlalchemy import update

    from service.core.crypto import encrypt
    from service.core.extensions import db
    from service.db.models import Comment

    box, _ = mailbox
    make_site("blog", lang="en")
    parent = post(client, email="alice@example.com", notify=True)["comment"]["id"]
    assert deliver(app) == 1  # the confirmation mail, to alice alone
    assert box.recipients == [["alice@example.com"]]
    [link] = LINK_RE.findall(box.messages[0].get_body(("plain",)).get_content())
    assert client.post(urlsplit(link).path).status_code == 200
    with app.app_context():
        db.session.execute(
            update(Comment)
            .where(Comment.id == parent)
            .values(email_encrypted=encrypt("alice@example.com,root@localhost"))
        )
        db.session.commit()
    post(client, parent_id=parent, body="a reply")
    assert deliver(app) == 0
    assert box.recipients == [["alice@example.com"]]  # nothing more, to nobody
    assert kinds(app)[-1] == ("email_reply", "failed")


def test_reply_mail_needs_a_confirmed_address(app, client, make_site, mailbox):
    box, _ = mailbox
    make_site("blog", lang="ja")
    first = post(client, email="Stranger@Example.com", notify=True, body="first")["comment"]["id"]
    post(client, email="stranger@example.com", notify=True, body="second")
    post(client, parent_id=first, body="a reply before confirming")
    assert [k for k, _ in kinds(app)] == ["email_confirm"]  # one mail, however many ask
    assert deliver(app) == 1
    [message] = box.messages
    assert box.recipients == [["Stranger@Example.com"]]
    assert message["Subject"] == "[blog] 返信の通知メールの確認"
    plain = message.get_body(("plain",)).get_content()
    assert "お心当たりがなければ" in plain
    [link] = LINK_RE.findall(plain)
    path = urlsplit(link).path

    # The GET only asks (mail scanners fetch links); a forged link confirms nothing.
    page = client.get(path)
    assert page.status_code == 200 and '<form method="post">' in page.get_data(as_text=True)
    assert client.post(path[:-4] + "AAAA").status_code == 403
    post(client, parent_id=first, body="still unconfirmed")
    assert deliver(app) == 0 and len(box.messages) == 1

    done = client.post(path)
    assert done.status_code == 200 and "確認しました" in done.get_data(as_text=True)
    assert client.post(path).status_code == 200  # again: changes nothing
    post(client, parent_id=first, body="now it arrives")
    assert deliver(app) == 1
    assert box.recipients[-1] == ["Stranger@Example.com"]
    assert "now it arrives" in box.messages[-1].get_body(("plain",)).get_content()
    # A new "notify me" of a confirmed address asks nothing.
    post(client, email="stranger@example.com", notify=True, body="third")
    assert deliver(app) == 0 and len(box.messages) == 2
