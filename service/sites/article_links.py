"""Where an article is read: the one rule for every link Ranklet prints to an article.

A thread's URL comes from its first commenter's page (``article_url`` in the post), so a
reader chooses it. The feed, the author's pages and the e-mails link to it only when it
lies on one of the site's origins; otherwise (and for threads without a URL) the article
key, when it is a path as the embed makes it, is joined to the site's first origin.
"""

from __future__ import annotations

import urllib.parse

from service.db.models import Site, Thread


def on_origins(site: Site, url: str) -> bool:
    """``url`` is an http(s) address whose scheme and host are one of the site's origins."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    origins = {origin.rstrip("/") for origin in site.origins or []}
    return parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" in origins


def article_url(site: Site, thread: Thread) -> str | None:
    """The article's address on one of the site's origins, or None when there is none."""
    for candidate in (thread.url, thread.article):
        if not candidate:
            continue
        if candidate.startswith("/") and not candidate.startswith("//") and site.origins:
            candidate = site.origins[0].rstrip("/") + candidate
        if on_origins(site, candidate):
            return candidate
    return None
