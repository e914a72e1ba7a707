"""Atom feeds of the latest approved comments, per site or per article (contract §6)."""

from __future__ import annotations

from urllib.parse import urlencode

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

from service.commenting import ANONYMOUS
from service.extensions import db
from service.markup import html_to_text
from service.models import Comment, Site, Thread
from service.schemas import CONTROL_RE
from service.sites import get_site_or_404

blp = Blueprint("feeds", __name__, url_prefix="/feeds")

FEED_SIZE = 50


def _entry_link(feed_url: str, thread: Thread, comment: Comment) -> str:
    page = thread.url or f"{feed_url}?{urlencode({'article': thread.article})}"
    return f"{page}#ranklet-comment-{comment.id}"


def build_feed(site: Site, article: str | None) -> bytes:
    base = current_app.config["PUBLIC_URL"]
    query = (
        select(Comment, Thread)
        .join(Thread, Thread.id == Comment.thread_id)
        .where(Comment.site_id == site.id, Comment.status == "approved")
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(FEED_SIZE)
    )
    if article is not None:
        query = query.where(Thread.article == article)
    rows = db.session.execute(query).all()
    self_url = f"{base}/feeds/{site.slug}.atom"
    feed = FeedGenerator()
    feed.id(self_url + (f"?{urlencode({'article': article})}" if article else ""))
    title = f"{site.name}: comments" if site.lang == "en" else f"{site.name} のコメント"
    if article is not None:
        title += f" — {article}"
    feed.title(title)
    feed.link(href=self_url, rel="self")
    feed.language(site.lang)
    feed.generator("Ranklet")
    feed.updated(rows[0][0].edited_at or rows[0][0].created_at if rows else site.created_at)
    for comment, thread in reversed(rows):  # feedgen prepends: add oldest first
        entry = feed.add_entry()
        entry.id(f"{base}/feeds/{site.slug}/comments/{comment.id}")
        author = comment.author or ANONYMOUS[site.lang]
        entry.author({"name": author})
        entry.title(_title(author, thread, html_to_text(comment.body_html)))
        entry.link(href=_entry_link(self_url, thread, comment))
        entry.published(comment.created_at)
        entry.updated(comment.edited_at or comment.created_at)
        entry.content(comment.body_html, type="html")
    return feed.atom_str(pretty=False)


def _title(author: str, thread: Thread, text: str) -> str:
    excerpt = " ".join(text.split())[:80]
    where = thread.title or thread.article
    return CONTROL_RE.sub("", f"{author} — {where}: {excerpt}")


@blp.get("/<site>.atom")
def site_feed(site: str) -> Response:
    """The latest approved comments of a site, or of one article with ``?article=``."""
    target = get_site_or_404(site)
    article = request.args.get("article")
    response = Response(build_feed(target, article), mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=60, stale-while-revalidate=60"
    response.add_etag()
    return response.make_conditional(request)
