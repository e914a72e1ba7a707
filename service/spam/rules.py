"""Rules the author writes: blocked words and regular expressions, checked against the text
readers will read (``text.reader_view``), and blocked commenters. A match stores the comment
as spam, one click from publication in the admin.

Patterns run on the ``regex`` engine with a time limit, so a pattern with catastrophic
backtracking cannot hang a worker: on saving, each is compiled and tried against a hostile
probe and refused if it cannot finish it in time; at posting, all of a site's patterns share
one budget, and running out of it counts as a match (the comment waits for the author rather
than being published unchecked).
"""

from __future__ import annotations

import time
from functools import lru_cache

import regex
from sqlalchemy import and_, bindparam, or_, select

from service.core.extensions import db
from service.db.models import Site, SpamBlock
from service.spam.text import normalize, reader_view

MAX_PATTERNS = 100
PATTERN_MAX_LENGTH = 200
PATTERN_BUDGET = 0.05  # seconds for all of a site's patterns on one comment
_PROBES = ("a" * 3000 + "!", "あ" * 3000 + "!", "a " * 1500 + "!", "ab" * 1500 + "!")
FLAGS = regex.IGNORECASE | regex.UNICODE | regex.V1

_BLOCKS = SpamBlock.__table__.c
# One statement built once (a lookup not given is NULL, which matches no digest).
_BLOCKED = (
    select(_BLOCKS.id)
    .where(
        _BLOCKS.site_id == bindparam("site_id"),
        or_(
            and_(_BLOCKS.kind == "client", _BLOCKS.digest == bindparam("client")),
            and_(_BLOCKS.kind == "email", _BLOCKS.digest == bindparam("email")),
        ),
    )
    .limit(1)
)


class PatternError(ValueError):
    """A pattern that cannot be saved; the message says which and why."""


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, FLAGS)


def check_pattern(pattern: str) -> str:
    """The pattern as it will be stored, or a PatternError: it must compile, be short, and
    finish the hostile probes within the budget."""
    pattern = pattern.strip()
    if not pattern or len(pattern) > PATTERN_MAX_LENGTH:
        raise PatternError(f"{pattern[:40]!r}: 1 to {PATTERN_MAX_LENGTH} characters")
    try:
        compiled = _compiled(pattern)
    except (regex.error, ValueError, OverflowError) as error:
        raise PatternError(f"{pattern[:40]!r}: {error}") from None
    try:
        for probe in _PROBES:
            compiled.search(probe, timeout=PATTERN_BUDGET)
    except TimeoutError:
        raise PatternError(f"{pattern[:40]!r}: too slow (it backtracks without end)") from None
    if compiled.search(""):
        raise PatternError(f"{pattern[:40]!r}: matches every comment")
    return pattern


def normalize_word(word: str) -> str:
    return normalize(word)


def _pattern_matches(patterns: list[str], text: str) -> bool:
    deadline = time.monotonic() + PATTERN_BUDGET
    for pattern in patterns:
        left = deadline - time.monotonic()
        try:
            if left <= 0 or _compiled(pattern).search(text, timeout=left):
                return True
        except TimeoutError:
            return True
        except regex.error:
            continue  # saved by an older version and no longer valid: ignore it
    return False


def rule_match(
    site: Site,
    body_html: str,
    author: str | None,
    website: str | None,
    *,
    client_lookup: str | None = None,
    email_lookup: str | None = None,
) -> str | None:
    """Which rule stores this comment as spam (``blocked``, ``word``, ``pattern``), or None.

    Blocked commenters are looked for only on a site that has any (``blocked_commenters``,
    read with the site, kept exact by ``service.spam.blocks``)."""
    if site.blocked_commenters and is_blocked(site.id, client_lookup, email_lookup):
        return "blocked"
    words = site.banned_words or []
    patterns = site.spam_patterns or []
    if not words and not patterns:
        return None
    text = reader_view(body_html, author, website)
    if any(word in text for word in words):
        return "word"
    if patterns and _pattern_matches(patterns, text):
        return "pattern"
    return None


def is_blocked(site_id: int, client_lookup: str | None, email_lookup: str | None) -> bool:
    if not client_lookup and not email_lookup:
        return False
    values = {"site_id": site_id, "client": client_lookup or None, "email": email_lookup or None}
    return db.session.connection().execute(_BLOCKED, values).first() is not None
