"""Links in notification e-mails: approve/delete a comment, unsubscribe from replies.

Each link carries a signed token (itsdangerous, keyed with the secret key, one salt per
purpose), so it works without signing in and a link for one purpose is no key for another.
A GET only shows a confirmation page with a button: mail scanners and link previews fetch
GETs, and must not approve or delete anything. The POST acts.

Moderation links expire after ``LINK_MAX_AGE`` and work once: the nonce of a used link is
stored in ``used_links`` in the same transaction as the moderation. Unsubscribe links never
expire (an old e-mail must still be able to stop the mail) and are idempotent; the POST also
takes the RFC 8058 one-click body ``List-Unsubscribe=One-Click`` that mail clients send.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.comments import markup, moderation
from service.core.extensions import db
from service.core.text_rules import MAX_ID
from service.db.models import Comment, Site, Unsubscribe, UsedLink
from service.db.types import utcnow
from service.i18n.messages import Texts, choose, text

blp = Blueprint("email_links", __name__)

LINK_MAX_AGE = 7 * 24 * 3600
MODERATION_ACTIONS = ("approve", "spam", "delete")
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

# --- tokens -------------------------------------------------------------------------------


def _moderation_serializer(action: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=f"ranklet email link: {action}"
    )


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="ranklet email unsubscribe")


def moderation_token(comment_id: int, action: str) -> str:
    """A one-use token that performs ``action`` on one comment and nothing else."""
    if action not in MODERATION_ACTIONS:
        raise ValueError(f"no e-mail link for {action!r}")
    payload = {"c": comment_id, "a": action, "n": secrets.token_urlsafe(16)}
    return str(_moderation_serializer(action).dumps(payload))


def moderation_url(comment_id: int, action: str) -> str:
    """Built from ``PUBLIC_URL``, never from a request's Host header."""
    return f"{current_app.config['PUBLIC_URL']}/links/{moderation_token(comment_id, action)}"


def unsubscribe_token(comment_id: int) -> str:
    """Names the reader's comment, not their address: the address is looked up when used."""
    return str(_unsubscribe_serializer().dumps({"c": comment_id}))


def unsubscribe_url(comment_id: int) -> str:
    return f"{current_app.config['PUBLIC_URL']}/unsubscribe/{unsubscribe_token(comment_id)}"


class LinkError(Exception):
    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


@dataclass(frozen=True)
class ModerationLink:
    comment_id: int
    action: str
    nonce: str


def read_moderation_token(token: str) -> ModerationLink:
    """The link's meaning, or a LinkError: 400 when expired, 403 when forged or malformed."""
    expired = False
    for action in MODERATION_ACTIONS:
        try:
            data = _moderation_serializer(action).loads(token, max_age=LINK_MAX_AGE)
        except SignatureExpired:
            expired = True  # genuine but old; keep looking only to tell the two apart
            continue
        except BadSignature:
            continue
        if not _valid_payload(data, action):
            break
        return ModerationLink(data["c"], action, data["n"])
    raise LinkError(400, "expired") if expired else LinkError(403, "forged")


def _valid_payload(data: Any, action: str) -> bool:
    return (
        isinstance(data, dict)
        and type(data.get("c")) is int
        and 1 <= data["c"] <= MAX_ID
        and data.get("a") == action
        and isinstance(data.get("n"), str)
        and 0 < len(data["n"]) <= 64
    )


def read_unsubscribe_token(token: str) -> int:
    try:
        data = _unsubscribe_serializer().loads(token)
    except BadSignature:
        raise LinkError(403, "forged") from None
    if not isinstance(data, dict) or type(data.get("c")) is not int:
        raise LinkError(403, "forged")
    return int(data["c"])


# --- actions ------------------------------------------------------------------------------


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


def use_moderation_link(link: ModerationLink) -> tuple[Comment, bool]:
    """Moderate once; returns the comment and whether anything changed.

    The nonce is stored in the moderation's own transaction; of two concurrent clicks only
    one inserts it, the other gets a LinkError(410).
    """
    comment = db.session.get(Comment, link.comment_id, with_for_update=True)  # decides on it
    if comment is None:
        db.session.rollback()
        raise LinkError(404, "gone")
    # RETURNING, not rowcount: an ORM insert's rowcount is -1 on psycopg.
    inserted = db.session.execute(
        _insert(UsedLink)
        .values(nonce=link.nonce, used_at=utcnow())
        .on_conflict_do_nothing(index_elements=["nonce"])
        .returning(UsedLink.nonce)
    ).scalar()
    if inserted is None:
        db.session.rollback()
        raise LinkError(410, "used")
    changes = would_change(link.action, comment)
    if changes:
        moderation.moderate(comment, link.action)  # commits the nonce with the change
    else:
        db.session.commit()
    return comment, changes


def would_change(action: str, comment: Comment) -> bool:
    """Whether the link's action still does something: approve a pending comment, mark as
    spam one that is published or pending (the filter learns it), delete one that is not
    deleted yet."""
    if action == "approve":
        return comment.status == "pending"
    if action == "spam":
        return comment.status not in ("spam", "deleted")
    return comment.status != "deleted"


def unsubscribe(comment_id: int) -> Site | None:
    """Stop reply e-mails to the address of this comment, on its site; idempotent."""
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        return None
    site = db.session.get(Site, comment.site_id)
    if comment.email_lookup:
        db.session.execute(
            _insert(Unsubscribe)
            .values(site_id=comment.site_id, email_lookup=comment.email_lookup, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["site_id", "email_lookup"])
        )
    db.session.commit()
    return site


# --- pages --------------------------------------------------------------------------------


def _page(
    lang: str,
    title: str,
    paragraphs: list[str],
    status: int = 200,
    *,
    button: str | None = None,
    quote: str | None = None,
    admin: bool = False,
) -> Response:
    """One small page; ``admin`` adds a link to the admin (pages of the author's links only:
    a reader unsubscribing has no business there)."""
    html = render_template(
        "email_links/page.html",
        lang=lang,
        title=title,
        paragraphs=paragraphs,
        button=button,
        quote=quote,
        admin_url=f"{current_app.config['PUBLIC_URL']}/admin/" if admin else None,
        admin_link=text("link.admin_link", lang),
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL is a credential
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _error_page(error: LinkError, lang: str, admin: bool = True) -> Response:
    t = Texts("link", lang)
    return _page(lang, t(f"{error.key}.title"), [t(f"{error.key}.text")], error.status, admin=admin)


def _moot_page(lang: str, action: str, comment: Comment) -> Response:
    t = Texts("link", lang)
    status = text(f"comment.status_{comment.status}", lang)
    said = t(f"{action}.moot", status=status)
    return _page(lang, said, [t("check_admin")], admin=True)


def _page_lang(site: Site | None) -> str:
    """``?lang=`` if given, else the site's language, else the browser's (no site known)."""
    return choose(request.args.get("lang"), site.lang if site is not None else None)


def _lang_of(comment_id: Any) -> str:
    """The language of the site the (possibly unverified) comment id belongs to, for pages.

    Only a page's language depends on it, so an expired or forged token's id is good enough.
    """
    if type(comment_id) is not int or not 1 <= comment_id <= MAX_ID:  # unsigned: anything
        return _page_lang(None)
    site = db.session.scalar(
        select(Site).join(Comment, Comment.site_id == Site.id).where(Comment.id == comment_id)
    )
    return _page_lang(site)


def _claimed_comment_id(token: str) -> Any:
    _, data = _moderation_serializer("approve").loads_unsafe(token)
    return data.get("c") if isinstance(data, dict) else None


@blp.get("/links/<token>")
def confirm_moderation(token: str) -> Response:
    """Show what a moderation link would do, with a button that does it."""
    lang = _lang_of(_claimed_comment_id(token))
    try:
        link = read_moderation_token(token)
        comment = db.session.get(Comment, link.comment_id)
        if comment is None:
            raise LinkError(404, "gone")
        if db.session.get(UsedLink, link.nonce) is not None:
            raise LinkError(410, "used")
    except LinkError as error:
        return _error_page(error, lang)
    if not would_change(link.action, comment):  # say so now, and leave the link unused
        return _moot_page(lang, link.action, comment)
    t = Texts("link", lang)
    author = comment.author or text("comment.anonymous", lang)
    return _page(
        lang,
        t(f"{link.action}.title"),
        [t("by", author=author)],
        button=t(f"{link.action}.button"),
        quote=markup.html_to_text(comment.body_html),
    )


@blp.post("/links/<token>")
def perform_moderation(token: str) -> Response:
    """Approve or delete the comment the link names, once."""
    lang = _lang_of(_claimed_comment_id(token))
    try:
        link = read_moderation_token(token)
        comment, changed = use_moderation_link(link)
    except LinkError as error:
        return _error_page(error, lang)
    if changed:
        return _page(lang, text(f"link.{link.action}.done", lang), [], admin=True)
    return _moot_page(lang, link.action, comment)


@blp.get("/unsubscribe/<token>")
def confirm_unsubscribe(token: str) -> Response:
    """Ask before unsubscribing: a mail scanner's GET changes nothing."""
    try:
        comment_id = read_unsubscribe_token(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None), admin=False)
    comment = db.session.get(Comment, comment_id)
    site = db.session.get(Site, comment.site_id) if comment is not None else None
    lang = _page_lang(site)
    t = Texts("link", lang)
    return _page(
        lang,
        t("unsubscribe.title"),
        [t("unsubscribe.text", site=site.name if site else "")],
        button=t("unsubscribe.button"),
    )


@blp.post("/unsubscribe/<token>")
def perform_unsubscribe(token: str) -> Response:
    """Unsubscribe; also the RFC 8058 one-click target (its body needs no reading)."""
    try:
        comment_id = read_unsubscribe_token(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None), admin=False)
    site = unsubscribe(comment_id)
    lang = _page_lang(site)
    return _page(lang, text("link.unsubscribe.done", lang, site=site.name if site else ""), [])
