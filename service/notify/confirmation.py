"""Double opt-in for reply e-mails: an address gets them only once its owner confirmed.

Anyone can type a stranger's address into the comment form and tick "notify me". So the
first comment that asks (per site and address) queues one mail with a signed link, and no
reply mail goes to the address until that link is used; a second comment asks nothing
more (one mail per address and week, whoever posts). The confirmation is kept by the
address's keyed hash (``confirmed_addresses``), like unsubscribes, never the address.

The link names the comment, not the address (the address is looked up when it is used),
works for ``LINK_MAX_AGE`` and, like the other e-mail links, a GET only shows a button:
mail scanners fetch GETs.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import and_, update

from service.comments.threads import dialect_insert
from service.core.crypto import decrypt
from service.core.extensions import db
from service.core.text_rules import MAX_ID
from service.db.models import Comment, ConfirmedAddress, Notification, Site
from service.db.types import utcnow
from service.i18n.messages import Texts
from service.notify import email
from service.notify.delivery import Send, Skip
from service.notify.email_links import LINK_MAX_AGE, LinkError, _error_page, _page, _page_lang

blp = Blueprint("confirmation", __name__)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="ranklet email confirm")


def confirm_url(comment_id: int) -> str:
    """Built from ``PUBLIC_URL``, never from a request's Host header."""
    token = _serializer().dumps({"c": comment_id})
    return f"{current_app.config['PUBLIC_URL']}/confirm/{token}"


def read_confirm_token(token: str) -> int:
    try:
        data = _serializer().loads(token, max_age=LINK_MAX_AGE)
    except SignatureExpired:
        raise LinkError(400, "expired") from None
    except BadSignature:
        raise LinkError(403, "forged") from None
    if not isinstance(data, dict) or type(data.get("c")) is not int or not 1 <= data["c"] <= MAX_ID:
        raise LinkError(403, "forged")
    return int(data["c"])


def ask_once(site: Site, comment: Comment) -> None:
    """In the comment's transaction: queue the confirmation mail, unless the address is
    confirmed or was asked within ``LINK_MAX_AGE`` (the row decides, so parallel posts
    queue one mail between them)."""
    if not (comment.notify and comment.email_encrypted and comment.email_lookup):
        return
    now = utcnow()
    table = ConfirmedAddress.__table__
    statement = dialect_insert(ConfirmedAddress).values(
        site_id=site.id, email_lookup=comment.email_lookup, asked_at=now, confirmed_at=None
    )
    statement = statement.on_conflict_do_update(
        index_elements=["site_id", "email_lookup"],
        set_={"asked_at": now},
        where=and_(
            table.c.confirmed_at.is_(None),
            table.c.asked_at < now - timedelta(seconds=LINK_MAX_AGE),
        ),
    ).returning(table.c.site_id)
    if db.session.execute(statement).first() is not None:
        db.session.add(
            Notification(site_id=site.id, kind="email_confirm", payload={"comment_id": comment.id})
        )


def prepare_confirm_email(site: Site, payload: dict[str, Any]) -> Send:
    comment_id = payload.get("comment_id")
    comment = db.session.get(Comment, comment_id) if type(comment_id) is int else None
    if comment is None or comment.site_id != site.id or not comment.notify:
        raise Skip("the comment no longer asks for replies")
    to = decrypt(comment.email_encrypted)
    if not to or not comment.email_lookup:
        raise Skip("the comment has no address any more")
    if email.address_confirmed(site.id, comment.email_lookup):
        raise Skip("the address is confirmed already")
    t = Texts("mail", site.lang)
    name = email._one_line(site.name)
    link = confirm_url(comment.id)
    plain = "\n".join(
        [
            t("confirm", site=name),
            "",
            t("link_line", label=t("confirm_link"), url=link),
            "",
            "-- ",
            t("confirm_ignore"),
            "",
        ]
    )
    parts = [
        f"<p>{html.escape(t('confirm', site=name))}</p>",
        f"<p>{email._link_html(link, t('confirm_link'))}</p>",
        f'<p style="color:#656d76;font-size:small">{html.escape(t("confirm_ignore"))}</p>',
    ]
    subject = t("subject.confirm", site=name)
    mail = email.Mail(to, subject, plain, email._html_document(site.lang, parts))
    return email._mail_outgoing(mail)


def _comment_and_site(token: str) -> tuple[Comment, Site]:
    comment = db.session.get(Comment, read_confirm_token(token))
    site = db.session.get(Site, comment.site_id) if comment is not None else None
    if comment is None or site is None or not comment.email_lookup:
        raise LinkError(404, "gone")
    return comment, site


@blp.get("/confirm/<token>")
def ask_confirmation(token: str) -> Response:
    """Ask before confirming: a mail scanner's GET confirms nothing."""
    try:
        _comment, site = _comment_and_site(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None), admin=False)
    lang = _page_lang(site)
    t = Texts("link", lang)
    return _page(
        lang,
        t("confirm.title"),
        [t("confirm.text", site=site.name)],
        button=t("confirm.button"),
    )


@blp.post("/confirm/<token>")
def confirm(token: str) -> Response:
    """Confirm the address of the comment the link names; using it again changes nothing."""
    try:
        comment, site = _comment_and_site(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None), admin=False)
    db.session.execute(
        update(ConfirmedAddress)
        .where(
            ConfirmedAddress.site_id == site.id,
            ConfirmedAddress.email_lookup == comment.email_lookup,
            ConfirmedAddress.confirmed_at.is_(None),
        )
        .values(confirmed_at=utcnow())
    )
    db.session.commit()
    lang = _page_lang(site)
    return _page(lang, Texts("link", lang)("confirm.done", site=site.name), [])
