"""The notification e-mails: a new or pending comment to the author (with one-use approve
and delete links), a reply to the reader who asked for replies (with an unsubscribe link),
a new best rank to the author; and sending them over SMTP.

Every text is the catalogue's ``mail`` area in the site's language; times are shown in the
site's time zone. Each ``prepare_*`` gathers everything before the network call and returns
the call itself (a ``Send``), as ``notifications`` expects.
"""

from __future__ import annotations

import html
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask import current_app
from sqlalchemy import exists, select

from service.comments import markup
from service.core.crypto import decrypt
from service.core.extensions import db
from service.core.text_rules import email_problem
from service.db.models import Comment, ConfirmedAddress, Site, Thread, Unsubscribe
from service.i18n.messages import LANGS, Texts, text
from service.notify import email_links
from service.notify.delivery import Deadline, DeliveryError, Send, Skip
from service.sites.article_links import article_url

SMTP_TIMEOUT = 20


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
    lang = site.lang if site.lang in LANGS else "en"
    title = _one_line(thread.title or thread.article)
    return comment, thread, lang, title


def _author_name(comment: Comment, lang: str) -> str:
    return _one_line(comment.author or "") or text("comment.anonymous", lang)


def prepare_author_email(site: Site, payload: dict[str, Any]) -> Send:
    comment, thread, lang, title = _comment_context(site, payload.get("comment_id"))
    if comment.status not in ("approved", "pending"):
        raise Skip(f"the comment is {comment.status} already")
    to = decrypt(site.notify_email_encrypted)
    if not to:
        raise Skip("the site has no notification address any more")
    t = Texts("mail", lang)
    author = _author_name(comment, lang)
    pending = comment.status == "pending"
    subject = t(
        "subject.pending" if pending else "subject.created",
        site=_one_line(site.name),
        title=_shorten(title, 80),
    )
    quote = _shorten(markup.html_to_text(comment.body_html), QUOTE_LIMIT)
    url = article_url(site, thread)
    links = [("approve", email_links.moderation_url(comment.id, "approve"))] if pending else []
    links.append(("spam", email_links.moderation_url(comment.id, "spam")))
    links.append(("delete", email_links.moderation_url(comment.id, "delete")))

    lines = [t("wrote", author=author, title=title)]
    if url:
        lines.append(url)
    lines.append("")
    lines.extend("> " + line for line in quote.splitlines() or [""])
    lines.append("")
    if pending:
        lines.append(t("pending"))
    lines.extend(t("link_line", label=t(action), url=link) for action, link in links)
    lines.extend(["", t("links")])

    parts = [f"<p>{html.escape(t('wrote', author=author, title=title))}</p>"]
    if url:
        parts.append(f"<p>{_link_html(url, url)}</p>")
    parts.append(_quote_html(quote))
    if pending:
        parts.append(f"<p>{html.escape(t('pending'))}</p>")
    parts.append("<p>" + " · ".join(_link_html(link, t(a)) for a, link in links) + "</p>")
    parts.append(f'<p style="color:#656d76;font-size:small">{html.escape(t("links"))}</p>')
    mail = Mail(to, subject, "\n".join(lines) + "\n", _html_document(lang, parts))
    return _mail_outgoing(mail)


def address_confirmed(site_id: int, lookup: str | None) -> bool:
    """Whether the owner of the address confirmed reply e-mails on this site (the link of
    ``confirmation``): nothing but that one confirmation mail goes to an address before."""
    if not lookup:
        return False
    confirmed_at = db.session.scalar(
        select(ConfirmedAddress.confirmed_at).where(
            ConfirmedAddress.site_id == site_id, ConfirmedAddress.email_lookup == lookup
        )
    )
    return confirmed_at is not None


def prepare_reply_email(site: Site, payload: dict[str, Any]) -> Send:
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
    if not address_confirmed(site.id, parent.email_lookup):  # double opt-in (confirmation)
        raise Skip("the reader's address is not confirmed")
    t = Texts("mail", lang)
    author = _author_name(reply, lang)
    subject = t("subject.reply", site=_one_line(site.name), author=_shorten(author, 64))
    quote = _shorten(markup.html_to_text(reply.body_html), QUOTE_LIMIT)
    own = _shorten(markup.html_to_text(parent.body_html), 300) if parent.status != "deleted" else ""
    url = article_url(site, thread)
    unsubscribe = email_links.unsubscribe_url(parent.id)

    lines = [t("replied", author=author, title=title), ""]
    lines.extend("> " + line for line in quote.splitlines() or [""])
    lines.append("")
    if own:
        lines.append(t("yours"))
        lines.extend("> " + line for line in own.splitlines())
        lines.append("")
    if url:
        lines.append(t("link_line", label=t("open"), url=url))
    lines.extend(["", "-- ", t("why"), t("link_line", label=t("unsubscribe"), url=unsubscribe)])

    parts = [f"<p>{html.escape(t('replied', author=author, title=title))}</p>"]
    parts.append(_quote_html(quote))
    if own:
        parts.append(f"<p>{html.escape(t('yours'))}</p>")
        parts.append(_quote_html(own))
    if url:
        parts.append(f"<p>{_link_html(url, t('open'))}</p>")
    parts.append(
        '<p style="color:#656d76;font-size:small">'
        f"{html.escape(t('why'))}<br>{_link_html(unsubscribe, t('unsubscribe'))}</p>"
    )
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    mail = Mail(to, subject, "\n".join(lines) + "\n", _html_document(lang, parts), headers)
    return _mail_outgoing(mail)


def rank_best_line(lang: str, event: dict[str, Any]) -> str:
    """「コンサルタントランキングで最高順位を更新しました：3位（前回の最高 4位）」"""
    t = Texts("mail", lang)
    category = event.get("category") or {}
    line = t(
        "rank.best",
        label=_one_line(str(category.get("label") or category.get("key") or "")),
        position=event.get("position"),
    )
    previous = event.get("previous_best")
    if isinstance(previous, dict):
        return line + t("rank.previous", position=previous.get("position"))
    return line + t("rank.first")


def _local_time(site: Site, moment: Any) -> str:
    """An event's UTC time as the blogger reads it: in the site's time zone, zone named."""
    from service.sites.local_time import local_text

    try:
        parsed = datetime.fromisoformat(str(moment))
    except ValueError:
        return str(moment)
    if parsed.tzinfo is None:
        return str(moment)
    return local_text(site, parsed)


def prepare_rank_email(site: Site, event: dict[str, Any]) -> Send:
    to = decrypt(site.notify_email_encrypted)
    if not to:
        raise Skip("the site has no notification address any more")
    lang = site.lang if site.lang in LANGS else "en"
    line = rank_best_line(lang, event)
    subject = f"[{_one_line(site.name)}] {line}"
    at = text("mail.rank.at", lang, at=_local_time(site, event.get("observed_at")))
    plain = f"{line}\n{at}\n"
    parts = [f"<p>{html.escape(line)}</p>", f"<p>{html.escape(at)}</p>"]
    return _mail_outgoing(Mail(to, subject, plain, _html_document(lang, parts)))


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


def send_mail(settings: SmtpSettings, message: EmailMessage, to: str) -> None:
    """Send to exactly ``to``: the envelope names one recipient, whatever the headers say."""
    context = ssl.create_default_context()
    deadline = Deadline()
    try:
        timeout = deadline.timeout(SMTP_TIMEOUT)
        if settings.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        deadline.guard(lambda: smtp.sock)
        with deadline, smtp:
            if settings.tls == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message, to_addrs=[to])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise DeliveryError(
            f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        if deadline.expired:
            raise DeliveryError(f"SMTP: not done within {deadline.seconds:g} s") from None
        raise DeliveryError(f"SMTP: {error}") from None


def _mail_outgoing(mail: Mail) -> Send:
    if not current_app.config.get("SMTP_HOST"):
        raise DeliveryError("e-mail is off (RANKLET_SMTP_HOST is unset)")
    if email_problem(mail.to):  # checked at input too; a row written before that rule
        raise DeliveryError("the recipient is not exactly one address", permanent=True)
    settings = SmtpSettings.from_config(current_app.config)
    message = build_message(mail)
    return lambda: send_mail(settings, message, mail.to)
