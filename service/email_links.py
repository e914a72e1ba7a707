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

from service import commenting, markup
from service.db_types import utcnow
from service.extensions import db
from service.models import Comment, Site, Unsubscribe, UsedLink
from service.text_rules import MAX_ID

blp = Blueprint("email_links", __name__)

LINK_MAX_AGE = 7 * 24 * 3600
MODERATION_ACTIONS = ("approve", "delete")
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "approve.title": "コメントを承認しますか？",
        "approve.button": "承認する",
        "approve.done": "コメントを承認しました。",
        "approve.moot": "このコメントは承認待ちではありません（現在：{status}）。"
        "管理ページで確認してください。",
        "delete.title": "コメントを削除しますか？",
        "delete.button": "削除する",
        "delete.done": "コメントを削除しました。",
        "delete.moot": "このコメントはすでに削除されています。",
        "by": "投稿者：{author}",
        "used.title": "使用済みのリンクです",
        "used.text": "このリンクはすでに使われました。リンクは一度しか使えません。",
        "expired.title": "リンクの期限が切れています",
        "expired.text": "このリンクは有効期限（7日）を過ぎています。"
        "管理ページから操作してください。",
        "forged.title": "無効なリンクです",
        "forged.text": "このリンクは正しくありません。メールのリンクをそのまま開いてください。",
        "gone.title": "コメントが見つかりません",
        "gone.text": "このコメントはもう存在しません。",
        "unsubscribe.title": "返信の通知メールを停止しますか？",
        "unsubscribe.text": "{site} のコメントへの返信をメールでお知らせするのをやめます。",
        "unsubscribe.button": "配信を停止する",
        "unsubscribe.done": "配信を停止しました。{site} から返信の通知メールは届きません。",
    },
    "en": {
        "approve.title": "Approve this comment?",
        "approve.button": "Approve",
        "approve.done": "The comment is approved.",
        "approve.moot": "This comment is not waiting for approval (it is {status}). "
        "Please check it on the admin page.",
        "delete.title": "Delete this comment?",
        "delete.button": "Delete",
        "delete.done": "The comment is deleted.",
        "delete.moot": "This comment is already deleted.",
        "by": "By {author}",
        "used.title": "This link has been used",
        "used.text": "This link was used already; each link works only once.",
        "expired.title": "This link has expired",
        "expired.text": "This link is older than 7 days. Please use the admin page instead.",
        "forged.title": "This link is not valid",
        "forged.text": "This link is not correct. Please open the link from the e-mail as it is.",
        "gone.title": "Comment not found",
        "gone.text": "This comment does not exist any more.",
        "unsubscribe.title": "Stop reply notifications?",
        "unsubscribe.text": "You will no longer get an e-mail when someone replies to your "
        "comments on {site}.",
        "unsubscribe.button": "Unsubscribe",
        "unsubscribe.done": "You are unsubscribed: {site} will send you no more reply e-mails.",
    },
}


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
    comment = db.session.get(Comment, link.comment_id)
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
    changes = (link.action == "approve" and comment.status == "pending") or (
        link.action == "delete" and comment.status != "deleted"
    )
    if changes:
        commenting.moderate(comment, link.action)  # commits the nonce with the change
    else:
        db.session.commit()
    return comment, changes


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
) -> Response:
    html = render_template(
        "email_links/page.html",
        lang=lang,
        title=title,
        paragraphs=paragraphs,
        button=button,
        quote=quote,
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL is a credential
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _error_page(error: LinkError, lang: str) -> Response:
    texts = TEXTS[lang]
    return _page(lang, texts[f"{error.key}.title"], [texts[f"{error.key}.text"]], error.status)


def _page_lang(site: Site | None) -> str:
    """``?lang=`` if given, else the site's language, else the browser's (no site known)."""
    chosen = request.args.get("lang")
    if chosen in TEXTS:
        return str(chosen)
    if site is not None and site.lang in TEXTS:
        return site.lang
    return request.accept_languages.best_match(tuple(TEXTS), default="en") or "en"


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
    texts = TEXTS[lang]
    author = comment.author or commenting.ANONYMOUS[lang]
    return _page(
        lang,
        texts[f"{link.action}.title"],
        [texts["by"].format(author=author)],
        button=texts[f"{link.action}.button"],
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
    texts = TEXTS[lang]
    if changed:
        return _page(lang, texts[f"{link.action}.done"], [])
    return _page(lang, texts[f"{link.action}.moot"].format(status=comment.status), [])


@blp.get("/unsubscribe/<token>")
def confirm_unsubscribe(token: str) -> Response:
    """Ask before unsubscribing: a mail scanner's GET changes nothing."""
    try:
        comment_id = read_unsubscribe_token(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None))
    comment = db.session.get(Comment, comment_id)
    site = db.session.get(Site, comment.site_id) if comment is not None else None
    lang = _page_lang(site)
    texts = TEXTS[lang]
    return _page(
        lang,
        texts["unsubscribe.title"],
        [texts["unsubscribe.text"].format(site=site.name if site else "")],
        button=texts["unsubscribe.button"],
    )


@blp.post("/unsubscribe/<token>")
def perform_unsubscribe(token: str) -> Response:
    """Unsubscribe; also the RFC 8058 one-click target (its body needs no reading)."""
    try:
        comment_id = read_unsubscribe_token(token)
    except LinkError as error:
        return _error_page(error, _page_lang(None))
    site = unsubscribe(comment_id)
    lang = _page_lang(site)
    return _page(lang, TEXTS[lang]["unsubscribe.done"].format(site=site.name if site else ""), [])
