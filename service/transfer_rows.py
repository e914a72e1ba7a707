"""From an incoming comment to a ``comments`` row: the API's rules, storable foreign text,
and the Markdown/HTML work done once per comment (in forked workers for large files)."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text

from service import markup
from service.crypto import avatar_seed, email_lookup, encrypt
from service.extensions import db
from service.models import Comment
from service.schemas import BIDI_RE, CONTROL_RE, LINE_CONTROL_RE, LINK_URL_RE
from service.transfer_items import IncomingComment

MAX_BODY = 5000  # characters, as for a comment posted through the API
MAX_COUNT = 2**31 - 1  # what an INTEGER column holds on every database
RENDER_CHUNK = 125  # bodies per task sent to a rendering worker
PARALLEL_FROM_BATCH = 2  # the first batch of a file whose bodies render in forked workers
ID_BLOCK = 1000  # PostgreSQL ids reserved per round trip

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LINK_URL = re.compile(LINK_URL_RE)
_BARE_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?=[:/?#]|$)")


@dataclass(slots=True)
class Placed:
    """Where a comment sits in its tree: what a reply to it needs to know."""

    id: int
    thread_id: int
    depth: int
    root_id: int
    parent_id: int | None


def line(value: str | None, limit: int) -> str | None:
    """One line of foreign text, made storable: no controls or bidi tricks, within limit."""
    if value is None:
        return None
    value = BIDI_RE.sub("", LINE_CONTROL_RE.sub(" ", value)).strip()
    return value[:limit].strip() or None


def website(value: str | None) -> str | None:
    value = (value or "").strip()
    if _BARE_HOST.match(value):
        value = "http://" + value  # Isso stores what the reader typed, often without scheme
    if len(value) <= 256 and _LINK_URL.fullmatch(value):
        return value
    return None


def thread_url(url: str | None) -> str | None:
    url = url if url and len(url) <= 2048 else None
    return url if url and _LINK_URL.fullmatch(url) else None


def article_problem(article: str) -> str | None:
    if not 1 <= len(article) <= 512:
        return "article key empty or longer than 512 characters"
    if LINE_CONTROL_RE.search(article):
        return "article key with control characters"
    return None


def body_of(incoming: IncomingComment) -> tuple[str, str]:
    """(Markdown source without control characters, foreign HTML) as the rules see them."""
    return CONTROL_RE.sub("", incoming.body_text).strip(), incoming.body_html


def comment_problem(incoming: IncomingComment, text: str, html: str) -> str | None:
    """The API's rules for a comment, applied before any rendering: a comment the API
    would refuse is skipped and counted, not cut (a cut comment says something else)."""
    if len(incoming.source_key) > 128:
        return "source id longer than 128 characters"
    if len(text) > MAX_BODY or (
        not text and len(html) > MAX_BODY and len(markup.html_to_text(html)) > MAX_BODY
    ):
        return f"body longer than {MAX_BODY:,} characters (the API's limit)"
    if not text and not html.strip() and incoming.status != "deleted":
        return "empty body"
    if not 0 <= incoming.likes <= MAX_COUNT:
        return "like count out of range"
    return None


def render(body: tuple[str, str]) -> tuple[str, str]:
    """(Markdown source, stored HTML): Markdown rendered, or else foreign HTML sanitized."""
    text, html = body
    return text, markup.render_comment(text) if text else markup.import_html(
        CONTROL_RE.sub("", html)
    )


class BodyRenderer:
    """Renders a batch's bodies, in order; from the second batch on, in forked workers.

    Markdown rendering is most of an import's time, and it is pure: workers render the
    next batch while this process writes the current one. The pool is forked only once a
    file has more than one batch, while this process is still small, so the workers'
    memory stays that of an idle importer; a single batch is rendered here."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.batches = 0

    def start(self, bodies: list[tuple[str, str]]) -> Callable[[], list[tuple[str, str]]]:
        """Begin rendering; the returned function gives the results (waiting if needed)."""
        self.batches += 1
        cores = os.cpu_count() or 1
        parallel = self.batches >= PARALLEL_FROM_BATCH and cores > 1
        if parallel and "fork" in mp.get_all_start_methods():
            if self.pool is None:
                context = mp.get_context("fork")
                self.pool = ProcessPoolExecutor(max_workers=min(cores, 4), mp_context=context)
            results = self.pool.map(render, bodies, chunksize=RENDER_CHUNK)
            return lambda: list(results)
        return lambda: [render(body) for body in bodies]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def comment_row(
    site_id: int, incoming: IncomingComment, placed: Placed, adjusted: Any
) -> dict[str, Any]:
    """The row of a new comment; what had to be dropped is counted in ``adjusted``."""
    author = line(incoming.author, 64)
    email = (incoming.email or "").strip() or None
    if email and not (len(email) <= 254 and _EMAIL_RE.match(email)):
        adjusted["e-mail address that is not one: dropped"] += 1
        email = None
    kept_website = website(incoming.website)
    if incoming.website and kept_website is None:
        adjusted["website that is not an http(s) URL: dropped"] += 1
    return {
        "id": placed.id,
        "site_id": site_id,
        "thread_id": placed.thread_id,
        "parent_id": placed.parent_id,
        "root_id": placed.root_id,
        "depth": placed.depth,
        "author": author,
        "website": kept_website,
        "email_encrypted": encrypt(email),
        "email_lookup": email_lookup(email),
        "avatar": avatar_seed(site_id, author, email),
        "body_text": incoming.body_text,
        "body_html": incoming.body_html,
        "status": incoming.status,
        "is_author": incoming.is_author,
        "notify": incoming.notify and email is not None,
        "likes": max(incoming.likes, 0),
        "edit_token_hash": None,  # nobody holds an edit token for an imported comment
        "source_key": incoming.source_key,
        "created_at": incoming.created_at,
        "edited_at": incoming.edited_at,
    }


class CommentIds:
    """Comment ids chosen before the insert, so a reply's row can name its parent's.

    PostgreSQL hands out a block from the table's own sequence in one round trip; on
    SQLite the import holds the write lock (BEGIN IMMEDIATE), so max(id) + 1 onwards is
    exactly what SQLite itself would have chosen. Every id handed out is ``first`` or
    more, and every comment that was there before is below it."""

    def __init__(self) -> None:
        self.postgres = db.session.get_bind().dialect.name == "postgresql"
        self.free: list[int] = []
        if self.postgres:
            self.free = self._block(1)
            self.first = self.free[0]
        else:
            self.last = db.session.scalar(select(func.max(Comment.id))) or 0
            self.first = self.last + 1

    def next(self) -> int:
        if self.free:
            return self.free.pop()
        if self.postgres:
            self.free = self._block(ID_BLOCK)
            self.free.reverse()
            return self.free.pop()
        self.last += 1
        return self.last

    def _block(self, size: int) -> list[int]:
        return list(
            db.session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('comments', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": size},
            )
        )
