"""The admin's comment pages: the moderation queue with its tabs and bulk actions, the
articles that have comments, and all comments of one article."""

from __future__ import annotations

from flask import Response, flash, g, redirect, request, url_for
from sqlalchemy import exists, func, or_, select

from service.admin.pages import blp, page
from service.comments import moderation as comment_moderation
from service.comments import representation
from service.core.extensions import db
from service.core.text_rules import CONTROL_RE, MAX_ID, ascii_int
from service.db.models import Comment, Site, Thread
from service.sites.article_links import article_url
from service.spam import blocks

PAGE_SIZE = 50
THREAD_LIMIT = 500
STATUSES = ("pending", "spam", "approved", "deleted")
ACTIONS_FOR = {
    "pending": ("approve", "spam", "block", "delete"),
    "approved": ("spam", "block", "delete"),
    "spam": ("approve", "block", "delete"),
    "deleted": ("restore",),
}


def _status_counts(site: Site) -> dict[str, int]:
    rows = db.session.execute(
        select(Comment.status, func.count())
        .where(Comment.site_id == site.id)
        .group_by(Comment.status)
    ).all()
    return {status: int(count) for status, count in rows}


def _threads_by_article(site: Site, articles: set[str]) -> dict[str, Thread]:
    if not articles:
        return {}
    found = db.session.scalars(
        select(Thread).where(Thread.site_id == site.id, Thread.article.in_(articles))
    )
    return {thread.article: thread for thread in found}


@blp.get("/moderation")
def moderation() -> Response:
    """The moderation queue: pending first, then tabs for spam, approved and deleted."""
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        status = "pending"
    before = ascii_int(request.args.get("cursor", ""), 1, MAX_ID)  # else the first page
    q = _search_text(request.args.get("q", ""))
    items, next_cursor = comment_moderation.moderation_page(g.site, status, PAGE_SIZE, before, q)
    return page(
        "admin/moderation.html",
        status=status,
        statuses=STATUSES,
        counts=_status_counts(g.site),
        comments=items,
        actions=ACTIONS_FOR[status],
        threads=_threads_by_article(g.site, {item["article"] for item in items}),
        thread_url=lambda thread: article_url(g.site, thread),
        next_cursor=next_cursor,
        q=q,
    )


def _search_text(raw: str) -> str:
    """The search box's words as one line: control characters dropped, at most 200."""
    return " ".join(CONTROL_RE.sub(" ", raw).split())[:200]


def _pin(value: str) -> Response:
    """One click on a card's pin button: ``1:ID`` pins, ``0:ID`` unpins."""
    flag, _, raw_id = value.partition(":")
    comment_id = ascii_int(raw_id, 1, MAX_ID)
    comment = db.session.get(Comment, comment_id) if comment_id is not None else None
    if flag not in ("0", "1") or comment is None or comment.site_id != g.site.id:
        return page("admin/error.html", 400, message=g.t("bad_request"))
    try:
        comment_moderation.pin(comment, flag == "1")
    except comment_moderation.ReplyNotPinnable:
        return page("admin/error.html", 400, message=g.t("bad_request"))
    flash(g.t("done_pin" if flag == "1" else "done_unpin"), "success")
    return redirect(_moderation_return())


@blp.post("/moderation")
def moderate() -> Response:
    """Approve, mark as spam, delete or restore one comment or all the selected ones; or pin
    or unpin one."""
    if request.form.get("pin"):
        return _pin(request.form["pin"])
    one = request.form.get("one", "")
    if one:
        action, _, raw_id = one.partition(":")
        raw_ids = [raw_id]
    else:
        action = request.form.get("action", "")
        raw_ids = request.form.getlist("ids")
    if action not in comment_moderation.MODERATION_STATUS and action != "block":
        return page("admin/error.html", 400, message=g.t("bad_request"))
    ids = {number for raw in raw_ids if (number := ascii_int(raw, 1, MAX_ID)) is not None}
    back = _moderation_return()
    if not ids:
        flash(g.t("nothing_selected"), "error")
        return redirect(back)
    comments = db.session.scalars(  # locked: each decides its own status change
        select(Comment)
        .where(Comment.site_id == g.site.id, Comment.id.in_(ids))
        .order_by(Comment.id)
        .with_for_update()
    ).all()
    try:
        if action == "block":  # one click: block the commenter and keep the comment as spam
            for comment in comments:
                blocks.block_commenter(g.site, comment, f"{comment.author or '-'} #{comment.id}")
        comment_moderation.moderate_many(comments, "spam" if action == "block" else action)
    except comment_moderation.ErasedComment:
        flash(g.t("erased_cannot_restore"), "error")
        return redirect(back)
    flash(g.t("moderated", n=len(comments), action=g.t(f"done_{action}")), "success")
    return redirect(back)


def _moderation_return() -> str:
    """Back to the tab or the article page the form was on; never anywhere else."""
    thread = ascii_int(request.form.get("thread", ""), 1, MAX_ID)
    if thread is not None:
        return url_for("admin.article", thread_id=thread)
    status = request.form.get("status", "pending")
    q = _search_text(request.form.get("q", "")) or None
    return url_for("admin.moderation", status=status if status in STATUSES else "pending", q=q)


# --- comments per article -------------------------------------------------------------------


@blp.get("/articles")
def articles() -> Response:
    """Every thread that has a comment to show or to moderate, with its approved and
    pending counts, newest first."""
    number = ascii_int(request.args.get("page", "1"), 1, 99_999) or 1
    has_pending = exists().where(Comment.thread_id == Thread.id, Comment.status == "pending")
    threads = db.session.scalars(
        select(Thread)
        .where(Thread.site_id == g.site.id, or_(Thread.approved_count > 0, has_pending))
        .order_by(Thread.created_at.desc(), Thread.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    more = len(threads) > PAGE_SIZE
    threads = threads[:PAGE_SIZE]
    pending = dict(
        db.session.execute(
            select(Comment.thread_id, func.count())
            .where(Comment.thread_id.in_([t.id for t in threads]), Comment.status == "pending")
            .group_by(Comment.thread_id)
        ).all()
    )
    return page(
        "admin/articles.html",
        threads=threads,
        urls={thread.id: article_url(g.site, thread) for thread in threads},
        pending=pending,
        page=number,
        more=more,
    )


@blp.get("/articles/<int(max=2147483647):thread_id>")
def article(thread_id: int) -> Response:
    """All comments of one article, whatever their status, oldest first."""
    thread = db.session.get(Thread, thread_id)
    if thread is None or thread.site_id != g.site.id:
        return page("admin/error.html", 404, message=g.t("not_found"))
    comments = db.session.scalars(
        select(Comment)
        .where(Comment.thread_id == thread.id)
        .order_by(Comment.created_at, Comment.id)
        .limit(THREAD_LIMIT)
    ).all()
    items = [representation.private(c, g.site.lang, thread.article) for c in comments]
    return page(
        "admin/article.html",
        thread=thread,
        url=article_url(g.site, thread),
        comments=items,
        actions_for=ACTIONS_FOR,
    )
