"""Spam guards: which new or edited comment is held for the site's author, or kept as spam.

A filled honeypot is stored as spam but answered like a normal comment, so bots learn
nothing; the status the client is told then follows the site's moderation mode. The
author's rules (blocked commenters, words, patterns: ``service.spam.rules``) and the learning
filter over the site's threshold in force (``service.spam.model``: learned from the site's own
ham in ``auto`` mode, the default, else fixed) store a comment as spam and answer
"pending", as for any held comment. Too many links hold a comment for moderation, at posting
and at every edit. (The rate limit, which comes before any of this, is in ``rate_limits``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from service.comments import markup
from service.db.models import Site
from service.spam import model, rules
from service.spam.features import buckets, comment_features

MAX_LINKS = 3


@dataclass(frozen=True)
class Decision:
    status: str  # stored
    told: str  # what the poster is told: approved | pending
    score: float | None  # the learning filter's, None when not scored
    features: list[str]  # what the filter counts if the comment is learned as ham
    buckets: list[int] | None = None  # the features' buckets, when worked out already


def held_reason(
    site: Site, body: str, body_html: str, author: str | None, website: str | None
) -> str | None:
    """Why an edited comment may not stay published, or None: ``spam`` for the author's
    rules, ``links`` for too many links."""
    if rules.rule_match(site, body_html, author, website):
        return "spam"
    if markup.count_html_links(body_html) > MAX_LINKS:
        return "links"
    return None


def new_status(
    site: Site,
    *,
    as_author: bool,
    honeypot: bool,
    body_html: str,
    author: str | None,
    website: str | None,
    has_email: bool = False,
    client_lookup: str | None = None,
    email_lookup: str | None = None,
) -> Decision:
    """The status a new comment is stored with, the one its poster is told, and its score."""
    if as_author:
        return Decision("approved", "approved", None, [])
    features = comment_features(body_html, author, website, has_email)
    wanted = buckets(features)
    verdict = model.score(site.id, features, wanted)
    score = verdict.score
    if honeypot:
        return Decision("spam", "pending" if site.moderation == "all" else "approved", score, [])
    rule = rules.rule_match(
        site, body_html, author, website, client_lookup=client_lookup, email_lookup=email_lookup
    )
    if rule or model.held_by_score(site, verdict):
        return Decision("spam", "pending", score, [])
    if site.moderation == "all" or markup.count_html_links(body_html) > MAX_LINKS:
        return Decision("pending", "pending", score, [])
    return Decision("approved", "approved", score, features, wanted)
