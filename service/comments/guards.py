"""Spam guards: which new or edited comment is held for the site's author, or kept as spam.

A filled honeypot is stored as spam but answered like a normal comment, so bots learn
nothing; the status the client is told then follows the site's moderation mode. Too many
links or a banned word hold a comment for moderation, at posting and at every edit. (The
rate limit, which comes before any of this, is in ``rate_limits``.)
"""

from __future__ import annotations

from service.comments import markup
from service.db.models import Site

MAX_LINKS = 3


def held_reason(
    site: Site, body: str, body_html: str, author: str | None, website: str | None
) -> str | None:
    """Why a reader's comment waits for moderation, or None when nothing holds it."""
    if markup.count_html_links(body_html) > MAX_LINKS:
        return "links"
    text = " ".join(x for x in (body, author or "", website or "") if x).lower()
    if any(word in text for word in site.banned_words or []):
        return "banned word"
    return None


def new_status(
    site: Site,
    *,
    as_author: bool,
    honeypot: bool,
    body: str,
    body_html: str,
    author: str | None,
    website: str | None,
) -> tuple[str, str]:
    """The status a new comment is stored with, and the one its poster is told."""
    if as_author:
        status = "approved"
    elif honeypot:
        status = "spam"
    elif site.moderation == "all" or held_reason(site, body, body_html, author, website):
        status = "pending"
    else:
        status = "approved"
    held = status == "pending" or (honeypot and site.moderation == "all")
    return status, "pending" if held else "approved"
