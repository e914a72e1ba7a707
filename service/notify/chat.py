"""Chat messages to the author: LINE (Messaging API push), Slack and Discord (incoming
webhooks) and Telegram (a bot), for new and held comments and new best ranks.

One outbox row per channel (kind ``chat``, payload ``{"channel", "comment_id"}`` or
``{"channel", "event"}``), so each channel is retried on its own, by the one sender, with
the same backoff and the same private-address rule as webhooks. The message is composed
when it is sent, in the site's language, from the comment as it is then (a comment deleted
meanwhile is not announced). Approve and delete links are the e-mails' signed one-use links
(``email_links``): a chat app's link preview only GETs them, and a GET only asks.

Each request is exactly what the service's documentation asks for:

- LINE: ``POST https://api.line.me/v2/bot/message/push``, ``Authorization: Bearer TOKEN``,
  ``{"to": TO, "messages": [{"type": "text", "text": ...}]}`` (text up to 5,000 characters);
- Slack: ``POST`` the webhook URL, ``{"text": ...}`` with ``&``, ``<`` and ``>`` escaped;
- Discord: ``POST`` the webhook URL, ``{"content": ..., "allowed_mentions": {"parse": []}}``
  (up to 2,000 characters; no reader's text can ping ``@everyone``);
- Telegram: ``POST https://api.telegram.org/bot<TOKEN>/sendMessage``,
  ``{"chat_id": CHAT, "text": ...}`` (plain text, up to 4,096 characters).

The two fixed API bases can be moved only under ``TESTING`` (``CHAT_API_BASES``), so tests
talk to a local fake and a deployment always talks to the real service.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from service.comments.recent import excerpt
from service.core.extensions import db
from service.db.models import Comment, Notification, Site, Thread
from service.i18n.messages import LANGS, Texts, text
from service.notify import email_links
from service.notify.delivery import DeliveryError, Send, Skip, post_json
from service.notify.email import rank_best_line
from service.sites import chat_channels, webhook_target
from service.sites.article_links import article_url

CHAT_TIMEOUT = 10
API_BASES = {"line": "https://api.line.me", "telegram": "https://api.telegram.org"}
LIMITS = {"line": 5000, "slack": 4000, "discord": 2000, "telegram": 4096}
QUOTE_LIMIT = 200
# Answers that retrying cannot fix: a bad request, a revoked token, a deleted webhook.
PERMANENT = frozenset({400, 401, 403, 404})


# --- joining the outbox (in the comment's or the positions' transaction) -------------------


def enqueue_comment(site: Site, comment: Comment) -> None:
    """A row per channel for a new comment the author did not write themselves."""
    for channel in chat_channels.configured(site):
        payload = {"channel": channel, "comment_id": comment.id}
        db.session.add(Notification(site_id=site.id, kind="chat", payload=payload))


def enqueue_rank(site: Site, event: dict[str, Any]) -> None:
    """A row per channel for a new best rank (``ranking.best``; other events are not news)."""
    if event.get("event") != "ranking.best":
        return
    for channel in chat_channels.configured(site):
        payload = {"channel": channel, "event": event}
        db.session.add(Notification(site_id=site.id, kind="chat", payload=payload))


# --- composing ------------------------------------------------------------------------------


def _admin_url(status: str | None = None) -> str:
    base = f"{current_app.config['PUBLIC_URL']}/admin/"
    return base + (f"moderation?status={status}" if status else "rankings")


def comment_message(site: Site, comment_id: Any) -> str:
    """The lines of a new or held comment's message; Skip when there is nothing to say."""
    comment = db.session.get(Comment, comment_id) if type(comment_id) is int else None
    if comment is None or comment.site_id != site.id:
        raise Skip("the comment is gone")
    if comment.status not in ("approved", "pending"):
        raise Skip(f"the comment is {comment.status} already")
    thread = db.session.get(Thread, comment.thread_id)
    assert thread is not None
    lang = site.lang if site.lang in LANGS else "en"
    t = Texts("chat", lang)
    pending = comment.status == "pending"
    author = " ".join((comment.author or "").split()) or text("comment.anonymous", lang)
    title = " ".join((thread.title or thread.article).split())
    lines = [
        t("pending" if pending else "created", site=site.name, author=author, title=title),
        excerpt(comment.body_html, QUOTE_LIMIT),
    ]
    url = article_url(site, thread)
    if url:
        lines.append(t("article", url=url))
    if pending:
        lines.append(t("approve", url=email_links.moderation_url(comment.id, "approve")))
    lines.append(t("delete", url=email_links.moderation_url(comment.id, "delete")))
    lines.append(t("admin", url=_admin_url("pending" if pending else "approved")))
    return "\n".join(lines)


def rank_message(site: Site, event: Any) -> str:
    if not isinstance(event, dict):
        raise DeliveryError("the rank event is malformed", permanent=True)
    lang = site.lang if site.lang in LANGS else "en"
    t = Texts("chat", lang)
    line = t("rank", site=site.name, line=rank_best_line(lang, event))
    return "\n".join([line, t("admin", url=_admin_url())])


def _shorten(message: str, limit: int) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def request_for(
    channel: str, settings: dict[str, str], message: str
) -> tuple[str, Any, dict[str, str]]:
    """(URL, JSON body, extra headers) of one channel's request for ``message``."""
    message = _shorten(message, LIMITS[channel])
    bases = {**API_BASES, **_test_bases()}
    if channel == "line":
        body = {"to": settings["to"], "messages": [{"type": "text", "text": message}]}
        auth = {"Authorization": f"Bearer {settings['token']}"}
        return f"{bases['line']}/v2/bot/message/push", body, auth
    if channel == "telegram":
        url = f"{bases['telegram']}/bot{settings['token']}/sendMessage"
        return url, {"chat_id": settings["chat"], "text": message}, {}
    if channel == "slack":
        escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return settings["url"], {"text": escaped}, {}
    if channel == "discord":
        body = {"content": message, "allowed_mentions": {"parse": []}}
        return settings["url"], body, {}
    raise DeliveryError(f"no chat channel {channel!r}", permanent=True)


def _test_bases() -> dict[str, str]:
    """``CHAT_API_BASES`` moves LINE's and Telegram's API, under ``TESTING`` only."""
    if not current_app.config.get("TESTING"):
        return {}
    configured = current_app.config.get("CHAT_API_BASES") or {}
    return {name: str(base).rstrip("/") for name, base in configured.items() if name in API_BASES}


# --- sending --------------------------------------------------------------------------------


def prepare_chat(site: Site, payload: dict[str, Any]) -> Send:
    """Everything of one chat message gathered before the network call."""
    channel = payload.get("channel")
    settings = chat_channels.load(site).get(str(channel))
    if settings is None:
        raise Skip(f"the site has no {channel} channel any more")
    if "event" in payload:
        message = rank_message(site, payload["event"])
    else:
        message = comment_message(site, payload.get("comment_id"))
    url, body, extra = request_for(str(channel), settings, message)
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Ranklet"}
    headers.update(extra)
    allow_private = webhook_target.allow_private(current_app.config)
    return lambda: post_json(
        url,
        raw,
        headers,
        allow_private=allow_private,
        timeout=CHAT_TIMEOUT,
        label=f"{channel} API",
        permanent_statuses=PERMANENT,
    )
