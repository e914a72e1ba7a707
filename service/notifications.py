"""Delivering the notification outbox: signed webhooks and e-mails, with retries.

Rows are written by ``outbox`` in the comment's (or rank entries') own transaction; this
module sends them. Rank events (``ranking.best``, ``ranking.recorded``) are webhook rows
whose payload is the whole body, and ``email_rank`` rows for the notify address.

Who sends:

- **Each server process**, by default: every gunicorn worker of ``ranklet serve`` runs one
  daemon sender thread (``RANKLET_NOTIFY_WORKER``, default on). It starts in the worker,
  never in gunicorn's master (a thread does not survive a fork): ``service.server`` starts it
  when a worker loads the app, and ``create_app`` also starts it at a process's first
  request, for those who run ``gunicorn 'service:create_app()'`` themselves.
- **``ranklet worker``**, for those who prefer one separate process (set
  ``RANKLET_NOTIFY_WORKER=false`` on the servers then): a foreground loop, Ctrl-C stops it;
  ``--once`` does a single pass (for cron).

Any number of senders, on any number of hosts, can run at once: a row is claimed with a
conditional UPDATE (``status='queued'`` and no live claim) whose row count tells exactly one
sender that the row is its own for ``CLAIM_SECONDS``. A sender that dies mid-delivery leaves
the row to be claimed again when the claim lapses, so delivery is at-least-once: receivers
deduplicate by the comment id and event. Rows stay ``queued`` until delivered, so a restart
loses nothing. Failures are retried with exponential backoff (10 s, 20 s, 40 s ... capped at
15 minutes; 12 attempts over about 80 minutes), then the row is ``failed`` with its last
error. E-mail rows wait while this process has no ``RANKLET_SMTP_HOST``: another sender may.
A webhook aimed at a non-public address (``service.webhook_target``) fails at once, with the
reason, and is not retried: only a new URL or ``RANKLET_WEBHOOK_ALLOW_PRIVATE`` changes that.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.client
import json
import logging
import os
import smtplib
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, exists, or_, select, update

from service import email_links, markup, webhook_target
from service.crypto import decrypt
from service.db_types import transaction_intent, utcnow
from service.extensions import db
from service.models import Comment, Notification, Site, Thread, Unsubscribe

log = logging.getLogger("ranklet.notifications")

CLAIM_SECONDS = 60  # longer than any one delivery may take (webhook 10 s, SMTP 20 s)
WEBHOOK_TIMEOUT = 10
SMTP_TIMEOUT = 20
MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 15 * 60
POLL_SECONDS = 2.0
ERROR_PAUSE_SECONDS = 15.0
KEEP_DONE = timedelta(days=7)  # delivered payloads hold comment text: keep them briefly
KEEP_FAILED = timedelta(days=30)
EMAIL_KINDS = ("email_author", "email_reply", "email_rank")


class DeliveryError(Exception):
    """A delivery failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Skip(Exception):  # not an error: the notification no longer applies
    """Nothing to send any more (comment gone, reader unsubscribed, webhook removed)."""


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s ... at most 15 min."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


# --- one pass -----------------------------------------------------------------------------


def _due(now: datetime, limit: int) -> list[int]:
    query = (
        select(Notification.id)
        .where(
            Notification.status == "queued",
            Notification.next_attempt_at <= now,
            or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if not current_app.config.get("SMTP_HOST"):
        query = query.where(Notification.kind.not_in(EMAIL_KINDS))
    ids = list(db.session.scalars(query))
    db.session.rollback()  # end the read before any delivery; never hold a transaction open
    return ids


def _claim(notification_id: int, now: datetime) -> bool:
    """Take one row for CLAIM_SECONDS; False when another sender was first."""
    with transaction_intent(True):
        claimed = db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "queued",
                Notification.next_attempt_at <= now,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
            )
            .values(
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
                attempts=Notification.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    return claimed == 1


def _record(notification_id: int, values: dict[str, Any]) -> None:
    """The outcome of an attempt; a row another sender finished meanwhile stays as it is."""
    with transaction_intent(True):
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == "queued")
            .values(claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def deliver_due(limit: int = 20, now: datetime | None = None) -> int:
    """One pass over due rows: claim, deliver, record. Returns how many were delivered.

    ``now`` (default: the clock) decides what is due; tests pass a later one to reach a
    retry without waiting for it. Each row gets its own short transactions, and none is
    open during a network call; call it with no pending changes in the session.
    """
    return _pass(limit, now)[1]


def _pass(limit: int, now: datetime | None = None) -> tuple[int, int]:
    """(rows taken, rows delivered) of one pass."""
    clock = now or utcnow()
    taken = delivered = 0
    for notification_id in _due(clock, limit):
        if not _claim(notification_id, clock):
            continue
        taken += 1
        delivered += _attempt(notification_id, now)
    return taken, delivered


def _attempt(notification_id: int, now: datetime | None) -> int:
    """Deliver one claimed row and record the outcome; 1 when it was delivered."""
    try:
        send = _prepare(notification_id)
        db.session.rollback()  # no transaction stays open during the network call
        send()
    except Skip as skipped:
        db.session.rollback()
        _record(notification_id, {"status": "done", "done_at": utcnow(), "last_error": None})
        log.info("notification %s skipped: %s", notification_id, skipped)
        return 0
    except Exception as error:  # any failure of one delivery is retried
        db.session.rollback()
        _failed(notification_id, error, now)
        return 0
    _record(notification_id, {"status": "done", "done_at": utcnow(), "last_error": None})
    return 1


def _failed(notification_id: int, error: Exception, now: datetime | None) -> None:
    message = (str(error) or type(error).__name__)[:500]
    attempts = db.session.scalar(
        select(Notification.attempts).where(Notification.id == notification_id)
    )
    db.session.rollback()
    permanent = isinstance(error, DeliveryError) and error.permanent
    if permanent or (attempts or 0) >= MAX_ATTEMPTS:
        _record(notification_id, {"status": "failed", "last_error": message})
        log.warning("notification %s failed for good: %s", notification_id, message)
        return
    retry_at = (now or utcnow()) + retry_delay(attempts or 1)
    _record(notification_id, {"next_attempt_at": retry_at, "last_error": message})
    log.info(
        "notification %s failed (attempt %s), retry at %s: %s",
        notification_id,
        attempts,
        retry_at.isoformat(),
        message,
    )


def prune(now: datetime | None = None) -> int:
    """Forget delivered rows after KEEP_DONE and failed ones after KEEP_FAILED."""
    clock = now or utcnow()
    with transaction_intent(True):
        removed = db.session.execute(
            delete(Notification).where(
                or_(
                    (Notification.status == "done") & (Notification.done_at < clock - KEEP_DONE),
                    (Notification.status == "failed")
                    & (Notification.created_at < clock - KEEP_FAILED),
                )
            )
        ).rowcount
        db.session.commit()
    return int(removed or 0)


# --- preparing a delivery -----------------------------------------------------------------


# What one delivery does, with everything it needs gathered before the network call.
Send = Callable[[], None]


def _prepare(notification_id: int) -> Send:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        raise Skip("the row is gone")
    site = db.session.get(Site, notification.site_id)
    if site is None:
        raise Skip("the site is gone")
    if notification.kind == "webhook":
        return _prepare_webhook(site, notification.payload)
    if notification.kind == "email_author":
        return _prepare_author_email(site, notification.payload)
    if notification.kind == "email_reply":
        return _prepare_reply_email(site, notification.payload)
    if notification.kind == "email_rank":
        return _prepare_rank_email(site, notification.payload)
    raise DeliveryError(f"unknown kind {notification.kind!r}", permanent=True)


# --- webhooks -----------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Ranklet-Signature``: HMAC-SHA256 keyed with the secret over ``"{t}.{raw body}"``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _prepare_webhook(site: Site, payload: dict[str, Any]) -> Send:
    if not site.webhook_url:
        raise Skip("the site has no webhook any more")
    secret = decrypt(site.webhook_secret_encrypted)
    if not secret:
        raise DeliveryError(
            "the webhook has no signing secret: run `ranklet site update SLUG --webhook URL`",
            permanent=True,
        )
    url = site.webhook_url
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    allow_private = webhook_target.allow_private(current_app.config)

    def send() -> None:
        try:
            # Resolved and checked once; the connection goes to exactly that address.
            target = webhook_target.resolve(url, allow_private)
        except webhook_target.TargetRefused as refused:
            raise DeliveryError(f"webhook refused: {refused}", permanent=True) from None
        except (OSError, UnicodeError) as error:  # DNS: may well work next time
            raise DeliveryError(f"webhook unreachable: {error}") from None
        connection = webhook_target.connection(target, WEBHOOK_TIMEOUT)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Ranklet",
            "X-Ranklet-Signature": signature(secret, int(time.time()), body),
        }
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            status = connection.getresponse().status  # the answer's body is not read
        except (OSError, http.client.HTTPException, ValueError) as error:
            # refused, timeout, TLS, a broken answer
            raise DeliveryError(f"webhook unreachable: {error}") from None
        finally:
            connection.close()
        if not 200 <= status < 300:
            # A redirect is a failure too: following it would turn the POST into a GET
            # (and could lead anywhere, past the address check).
            raise DeliveryError(f"HTTP {status} from the webhook")

    return send


# --- e-mail -------------------------------------------------------------------------------

SUBJECTS = {
    "ja": {
        "created": "[{site}] 新しいコメント: {title}",
        "pending": "[{site}] 承認待ちのコメント: {title}",
        "reply": "[{site}] {author}さんがあなたのコメントに返信しました",
    },
    "en": {
        "created": "[{site}] New comment on {title}",
        "pending": "[{site}] Comment awaiting approval on {title}",
        "reply": "[{site}] {author} replied to your comment",
    },
}
BODIES = {
    "ja": {
        "wrote": "{author}さんが「{title}」にコメントしました。",
        "pending": "このコメントは承認待ちです。",
        "approve": "承認する",
        "delete": "削除する",
        "links": "リンクは一度だけ使え、7日で期限が切れます。",
        "replied": "{author}さんが「{title}」のあなたのコメントに返信しました。",
        "yours": "あなたのコメント:",
        "open": "記事を開く",
        "unsubscribe": "返信の通知メールを停止する",
        "why": "このメールは、コメント時に「返信を通知」を選んだため送られています。",
    },
    "en": {
        "wrote": "{author} commented on “{title}”.",
        "pending": "This comment is waiting for your approval.",
        "approve": "Approve",
        "delete": "Delete",
        "links": "Each link works once and expires in 7 days.",
        "replied": "{author} replied to your comment on “{title}”.",
        "yours": "Your comment:",
        "open": "Open the article",
        "unsubscribe": "Stop reply e-mails",
        "why": "You get this e-mail because you asked to be notified of replies.",
    },
}
QUOTE_LIMIT = 2000


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def article_url(site: Site, thread: Thread) -> str | None:
    """The article's address, only on one of the site's origins: readers supply the URL."""
    for candidate in (thread.url, thread.article):
        if not candidate:
            continue
        if candidate.startswith("/") and not candidate.startswith("//") and site.origins:
            candidate = site.origins[0] + candidate
        parts = urllib.parse.urlsplit(candidate)
        if f"{parts.scheme}://{parts.netloc}" in (site.origins or []):
            return candidate
    return None


def _html_text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>\n")


def _html_document(lang: str, parts: list[str]) -> str:
    return (
        f'<!doctype html>\n<html lang="{html.escape(lang)}"><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;line-height:1.6;color:#1f2328">\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _quote_html(text: str) -> str:
    return (
        '<blockquote style="margin:1em 0;padding:.5em 1em;border-left:4px solid #d0d7de">'
        f"{_html_text(text)}</blockquote>"
    )


def _link_html(url: str, label: str) -> str:
    return f'<a href="{html.escape(url)}">{html.escape(label)}</a>'


def _comment_context(site: Site, comment_id: Any) -> tuple[Comment, Thread, str, str]:
    comment = db.session.get(Comment, comment_id) if type(comment_id) is int else None
    if comment is None or comment.site_id != site.id:
        raise Skip("the comment is gone")
    thread = db.session.get(Thread, comment.thread_id)
    assert thread is not None
    lang = site.lang if site.lang in SUBJECTS else "en"
    title = _one_line(thread.title or thread.article)
    return comment, thread, lang, title


def _author_name(comment: Comment, lang: str) -> str:
    from service.commenting import ANONYMOUS

    return _one_line(comment.author or "") or ANONYMOUS[lang]


def _prepare_author_email(site: Site, payload: dict[str, Any]) -> Send:
    comment, thread, lang, title = _comment_context(site, payload.get("comment_id"))
    if comment.status not in ("approved", "pending"):
        raise Skip(f"the comment is {comment.status} already")
    to = decrypt(site.notify_email_encrypted)
    if not to:
        raise Skip("the site has no notification address any more")
    words = BODIES[lang]
    author = _author_name(comment, lang)
    pending = comment.status == "pending"
    subject = SUBJECTS[lang]["pending" if pending else "created"].format(
        site=_one_line(site.name), title=_shorten(title, 80)
    )
    quote = _shorten(markup.html_to_text(comment.body_html), QUOTE_LIMIT)
    url = article_url(site, thread)
    links = [("approve", email_links.moderation_url(comment.id, "approve"))] if pending else []
    links.append(("delete", email_links.moderation_url(comment.id, "delete")))

    text = [words["wrote"].format(author=author, title=title)]
    if url:
        text.append(url)
    text.append("")
    text.extend("> " + line for line in quote.splitlines() or [""])
    text.append("")
    if pending:
        text.append(words["pending"])
    text.extend(f"{words[action]}: {link}" for action, link in links)
    text.extend(["", words["links"]])

    parts = [f"<p>{html.escape(words['wrote'].format(author=author, title=title))}</p>"]
    if url:
        parts.append(f"<p>{_link_html(url, url)}</p>")
    parts.append(_quote_html(quote))
    if pending:
        parts.append(f"<p>{html.escape(words['pending'])}</p>")
    parts.append("<p>" + " · ".join(_link_html(link, words[a]) for a, link in links) + "</p>")
    parts.append(f'<p style="color:#656d76;font-size:small">{html.escape(words["links"])}</p>')
    mail = Mail(to, subject, "\n".join(text) + "\n", _html_document(lang, parts))
    return _mail_outgoing(mail)


def _prepare_reply_email(site: Site, payload: dict[str, Any]) -> Send:
    reply, thread, lang, title = _comment_context(site, payload.get("comment_id"))
    parent_id = payload.get("parent_id")
    parent = db.session.get(Comment, parent_id) if type(parent_id) is int else None
    if reply.status != "approved":
        raise Skip(f"the reply is {reply.status}")
    if parent is None or parent.site_id != site.id or not parent.notify:
        raise Skip("the parent comment no longer wants replies")
    to = decrypt(parent.email_encrypted)
    if not to or not parent.email_lookup:
        raise Skip("the parent comment has no address any more")
    unsubscribed = db.session.scalar(
        select(
            exists().where(
                Unsubscribe.site_id == site.id, Unsubscribe.email_lookup == parent.email_lookup
            )
        )
    )
    if unsubscribed:
        raise Skip("the reader unsubscribed")
    words = BODIES[lang]
    author = _author_name(reply, lang)
    subject = SUBJECTS[lang]["reply"].format(site=_one_line(site.name), author=_shorten(author, 64))
    quote = _shorten(markup.html_to_text(reply.body_html), QUOTE_LIMIT)
    own = _shorten(markup.html_to_text(parent.body_html), 300) if parent.status != "deleted" else ""
    url = article_url(site, thread)
    unsubscribe = email_links.unsubscribe_url(parent.id)

    text = [words["replied"].format(author=author, title=title), ""]
    text.extend("> " + line for line in quote.splitlines() or [""])
    text.append("")
    if own:
        text.append(words["yours"])
        text.extend("> " + line for line in own.splitlines())
        text.append("")
    if url:
        text.append(f"{words['open']}: {url}")
    text.extend(["", "-- ", words["why"], f"{words['unsubscribe']}: {unsubscribe}"])

    parts = [f"<p>{html.escape(words['replied'].format(author=author, title=title))}</p>"]
    parts.append(_quote_html(quote))
    if own:
        parts.append(f"<p>{html.escape(words['yours'])}</p>")
        parts.append(_quote_html(own))
    if url:
        parts.append(f"<p>{_link_html(url, words['open'])}</p>")
    parts.append(
        '<p style="color:#656d76;font-size:small">'
        f"{html.escape(words['why'])}<br>{_link_html(unsubscribe, words['unsubscribe'])}</p>"
    )
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    mail = Mail(to, subject, "\n".join(text) + "\n", _html_document(lang, parts), headers)
    return _mail_outgoing(mail)


RANK_WORDS = {
    "ja": {
        "best": "{label}ランキングで最高順位を更新しました: {position}位",
        "previous": "（前回の最高 {position}位）",
        "first": "（初めての記録）",
        "at": "記録日時: {at}",
    },
    "en": {
        "best": "New best rank in {label}: #{position}",
        "previous": " (previous best #{position})",
        "first": " (the first entry)",
        "at": "Observed: {at}",
    },
}


def rank_best_line(lang: str, event: dict[str, Any]) -> str:
    """「コンサルタントランキングで最高順位を更新しました: 3位（前回の最高 4位）」"""
    words = RANK_WORDS[lang if lang in RANK_WORDS else "en"]
    category = event.get("category") or {}
    line = words["best"].format(
        label=_one_line(str(category.get("label") or category.get("key") or "")),
        position=event.get("position"),
    )
    previous = event.get("previous_best")
    if isinstance(previous, dict):
        return line + words["previous"].format(position=previous.get("position"))
    return line + words["first"]


def _prepare_rank_email(site: Site, event: dict[str, Any]) -> Send:
    to = decrypt(site.notify_email_encrypted)
    if not to:
        raise Skip("the site has no notification address any more")
    lang = site.lang if site.lang in RANK_WORDS else "en"
    line = rank_best_line(lang, event)
    subject = f"[{_one_line(site.name)}] {line}"
    at = RANK_WORDS[lang]["at"].format(at=event.get("observed_at"))
    text = f"{line}\n{at}\n"
    parts = [f"<p>{html.escape(line)}</p>", f"<p>{html.escape(at)}</p>"]
    return _mail_outgoing(Mail(to, subject, text, _html_document(lang, parts)))


def _sender_address() -> str:
    configured = current_app.config.get("SMTP_FROM")
    if configured:
        return str(configured)
    host = urllib.parse.urlsplit(current_app.config["PUBLIC_URL"]).hostname or ""
    if "." not in host or host.replace(".", "").isdigit() or ":" in host:
        host = "localhost"  # an address or a bare name is no mail domain
    return str(Address("Ranklet", "ranklet", host))


def build_message(mail: Mail) -> EmailMessage:
    """Plain text plus an HTML alternative whose every dynamic value was escaped."""
    message = EmailMessage()
    message["Subject"] = _one_line(mail.subject)
    message["From"] = _sender_address()
    message["To"] = mail.to
    message["Date"] = formatdate(usegmt=True)
    sender_domain = message["From"].addresses[0].domain or "localhost"
    message["Message-ID"] = make_msgid("ranklet", domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str
    user: str | None
    password: str | None

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings:
        tls = str(config.get("SMTP_TLS") or "none").lower()
        if tls not in ("none", "starttls", "ssl"):
            raise DeliveryError(f"RANKLET_SMTP_TLS must be none, starttls or ssl, not {tls!r}")
        port = config.get("SMTP_PORT") or {"ssl": 465, "starttls": 587}.get(tls, 25)
        return cls(
            host=str(config["SMTP_HOST"]),
            port=int(port),
            tls=tls,
            user=config.get("SMTP_USER") or None,
            password=config.get("SMTP_PASSWORD") or None,
        )


def send_mail(settings: SmtpSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    try:
        if settings.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=SMTP_TIMEOUT, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        with smtp:
            if settings.tls == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise DeliveryError(
            f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"SMTP: {error}") from None


def _mail_outgoing(mail: Mail) -> Send:
    if not current_app.config.get("SMTP_HOST"):
        raise DeliveryError("e-mail is off (RANKLET_SMTP_HOST is unset)")
    settings = SmtpSettings.from_config(current_app.config)
    message = build_message(mail)
    return lambda: send_mail(settings, message)


# --- the loop -----------------------------------------------------------------------------


class Sender:
    """Delivers the outbox until stopped: a daemon thread, or the ``ranklet worker`` loop."""

    def __init__(self, app: Flask, batch: int = 20) -> None:
        self.app = app
        self.batch = batch
        self.stopping = threading.Event()
        self.pid = os.getpid()
        self._next_prune = 0.0
        self.thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, int]:
        with self.app.app_context():
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + 3600
                prune()
            return _pass(self.batch)

    def run(self) -> None:
        """Loop until ``stop()``; a full batch goes again at once, else it sleeps a bit."""
        while not self.stopping.is_set():
            pause = POLL_SECONDS
            try:
                taken, _ = self.run_once()
                if taken >= self.batch:
                    pause = 0
            except Exception:  # the database may be down: log, pause, try again
                log.exception("the notification sender failed; retrying shortly")
                pause = ERROR_PAUSE_SECONDS
            if pause:
                self.stopping.wait(pause)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="ranklet-sender", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)


_START_LOCK = threading.Lock()


def sender_enabled(app: Flask) -> bool:
    """``RANKLET_NOTIFY_WORKER`` (true by default); never under TESTING."""
    value = app.config.get("NOTIFY_WORKER")
    if isinstance(value, str):
        value = value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value) and not app.config.get("TESTING")


def start_sender(app: Flask) -> Sender | None:
    """Start this process's sender thread once, if configured; safe to call repeatedly.

    Keyed by process id, so an app object inherited through a fork starts its own thread.
    """
    if not sender_enabled(app):
        return None
    with _START_LOCK:
        current = app.extensions.get("ranklet_sender")
        if isinstance(current, Sender) and current.pid == os.getpid():
            return current
        sender = Sender(app)
        app.extensions["ranklet_sender"] = sender
        sender.start()
        return sender


def init_app(app: Flask) -> None:
    """Start the sender lazily at a process's first request (never in a forking master)."""
    if not sender_enabled(app):
        return

    @app.before_request
    def _ensure_sender() -> None:
        current = app.extensions.get("ranklet_sender")
        if not (isinstance(current, Sender) and current.pid == os.getpid()):
            start_sender(app)
