"""Atom feeds of the latest approved comments, per site or per article (contract §6)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, request
from flask_smorest import abort
from sqlalchemy import select

from service.comments.markup import html_to_text
from service.comments.representation import ANONYMOUS
from service.core.extensions import db
from service.core.text_rules import CONTROL_RE, LINE_CONTROL_RE, canonical_article
from service.db.models import Comment, Site, Thread
from service.i18n.messages import text
from service.sites.article_links import article_url
from service.sites.settings import get_site_or_404

blp = Blueprint("feeds", __name__, url_prefix="/feeds")

FEED_SIZE = 50

# Characters XML 1.0 cannot carry at all (lxml refuses them, and the feed would be a 500):
# C0 controls but tab and newlines, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text as XML can carry it: a comment may hold characters that no feed may."""
    return _NOT_XML.sub("", text)


def _entry_link(feed_url: str, site: Site, thread: Thread, comment: Comment) -> str:
    """The comment on its article's page, when that page is on the site's origins (a
    reader chose the URL); else the article's own feed."""
    page = article_url(site, thread) or f"{feed_url}?{urlencode({'article': thread.article})}"
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
    title = text("feed.title", site.lang, site=site.name)
    if article is not None:
        title += f" — {article}"
    feed.title(_xml(title))
    feed.link(href=self_url, rel="self")
    feed.language(site.lang)
    feed.generator("Ranklet")
    feed.updated(rows[0][0].edited_at or rows[0][0].created_at if rows else site.created_at)
    for comment, thread in reversed(rows):  # feedgen prepends: add oldest first
        entry = feed.add_entry()
        entry.id(f"{base}/feeds/{site.slug}/comments/{comment.id}")
        author = _xml(comment.author or ANONYMOUS[site.lang])
        entry.author({"name": author})
        entry.title(_xml(_title(site.lang, author, thread, html_to_text(comment.body_html))))
        entry.link(href=_xml(_entry_link(self_url, site, thread, comment)))
        entry.published(comment.created_at)
        entry.updated(comment.edited_at or comment.created_at)
        entry.content(_xml(comment.body_html), type="html")
    return feed.atom_str(pretty=False)


def _title(lang: str, author: str, thread: Thread, body: str) -> str:
    excerpt = " ".join(body.split())[:80]
    where = thread.title or thread.article
    return CONTROL_RE.sub("", text("feed.entry", lang, author=author, where=where, text=excerpt))


@blp.get("/<site>.atom")
def site_feed(site: str) -> Response:
    """The latest approved comments of a site, or of one article with ``?article=``."""
    target = get_site_or_404(site)
    article = request.args.get("article")
    # The same rule as the API's article key; PostgreSQL also refuses NUL in a query.
    if article is not None and (not 1 <= len(article) <= 512 or LINE_CONTROL_RE.search(article)):
        abort(422, message="Invalid article.", errors={"article": ["Not a valid article key."]})
    if article is not None:
        article = canonical_article(article)
    response = Response(build_feed(target, article), mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=60, stale-while-revalidate=60"
    response.add_etag()
    return response.make_conditional(request)
