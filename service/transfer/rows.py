"""From an incoming comment to a ``comments`` row: the API's rules, storable foreign text,
and the work done once per comment (Markdown/HTML, the address encrypted and hashed), in
forked workers for large files; then ids chosen up front."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text

from service.comments import markup
from service.core.crypto import avatar_seed, email_lookup, encrypt
from service.core.extensions import db
from service.core.text_rules import BIDI_RE, CONTROL_RE, LINE_CONTROL_RE, LINK_URL_RE, email_problem
from service.db.models import Comment
from service.transfer.items import IncomingComment

MAX_BODY = 5000  # characters, as for a comment posted through the API
# Foreign HTML is parsed twice (the length of its text, the sanitizer), and nested tags cost
# those parsers time by their depth: bodies past these sizes are refused before any parsing,
# as the API refuses a request over 64 KiB before reading it. No real comment comes close.
MAX_HTML = 64 * 1024  # characters
MAX_TAGS = 2000
MAX_COUNT = 2**31 - 1  # what an INTEGER column holds on every database
RENDER_CHUNK = 125  # bodies per task sent to a rendering worker
PARALLEL_FROM_BATCH = 2  # files of this many batches or more are prepared in forked workers
ID_BLOCK = 1000  # PostgreSQL ids reserved per round trip
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

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


def _visible_length(text: str, html: str) -> int:
    """How long a comment reads: its visible text, whether it came as Markdown (Isso, a
    JSON export) or as HTML (WordPress, Disqus), so every format meets the same limit.
    Measured by rendering only when the source itself is over the limit."""
    source = text or html
    if len(source) <= MAX_BODY:
        return len(source)
    if len(source) > 20 * MAX_BODY:  # no markup hides that much: over without rendering
        return len(source)
    return len(markup.html_to_text(markup.render_comment(text) if text else html))


def comment_problem(incoming: IncomingComment, text: str, html: str) -> str | None:
    """The API's rules for a comment, applied before any rendering: a comment the API
    would refuse is skipped and counted, not cut (a cut comment says something else)."""
    if len(incoming.source_key) > 128:
        return "source id longer than 128 characters"
    if not text and html.count("<") > MAX_TAGS:
        return f"HTML body with more than {MAX_TAGS:,} tags"
    if (not text and len(html) > MAX_HTML) or _visible_length(text, html) > MAX_BODY:
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


Job = tuple[int, str, str, str | None, str | None, str | None]  # site, bodies, who


def prepare(job: Job) -> tuple[Any, ...]:
    """Everything in a comment's row that does not depend on where it lands in the tree:
    the body rendered or sanitized, name and website made storable, the address checked,
    encrypted and hashed, the avatar seed; and what had to be dropped, said as reasons."""
    site_id, text, html, author, email, site = job
    body_text, body_html = render((text, html))
    dropped: list[str] = []
    author = line(author, 64)
    email = (email or "").strip() or None
    if email and email_problem(email):  # the API's address rule
        dropped.append("e-mail address that is not one: dropped")
        email = None
    kept = website(site)
    if site and kept is None:
        dropped.append("website that is not an http(s) URL: dropped")
    return (
        body_text,
        body_html,
        author,
        kept,
        encrypt(email),
        email_lookup(email),
        avatar_seed(site_id, author, email),
        email is not None,
        tuple(dropped),
    )


def _enter(app: Any, parent: int) -> None:
    """A worker's start: it dies with the importer, holds nothing of the importer's
    transaction, and has the app's context for the keys that encrypt and hash.

    The pool is forked while the importer holds the write gate and an open transaction. A
    worker that outlived a killed importer (SIGKILL from the OOM killer, SIGTERM from
    ``timeout``, ``docker stop`` or systemd) kept copies of both, and the live server's
    writes waited on them. So: the kernel kills the worker when its parent dies
    (``PR_SET_PDEATHSIG``, checked once against a parent that died before it was set), a
    watch thread covers systems without it, the gate's descriptor is closed at the fork
    (``db.types``) and the pooled connections are dropped without being closed (closing
    them would end the importer's own session)."""
    parent_death_signal(parent)
    app.app_context().push()
    db.engine.dispose(close=False)


def parent_death_signal(parent: int) -> None:
    """Exit when ``parent`` is gone: a signal from the kernel on Linux, and a watch."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="ranklet-parent-watch", daemon=True).start()


class RowPreparer:
    """Prepares a batch's comments (``prepare``), in order: in forked workers once a file
    has ``PARALLEL_FROM_BATCH`` batches, the first one included, else here.

    Rendering is most of an import's time, and all of it is pure: the workers prepare the
    next batch while this process writes the current one. The pool is forked once the
    second batch is read, while this process is still small, so the workers' memory stays
    that of an idle importer."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.batches = 0
        self.first: tuple[list[Job], list[Any]] | None = None  # jobs, results once sent

    def start(self, jobs: list[Job]) -> Callable[[], list[tuple[Any, ...]]]:
        """Begin; the returned function gives the results (waiting for them if needed)."""
        self.batches += 1
        cores = os.cpu_count() or 1
        if cores < 2 or "fork" not in mp.get_all_start_methods():
            return lambda: [prepare(job) for job in jobs]
        if self.batches < PARALLEL_FROM_BATCH:
            sent: list[Any] = []
            self.first = (jobs, sent)  # sent to the workers if more batches come in time
            return lambda: list(sent[0]) if sent else [prepare(job) for job in jobs]
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=min(cores, 4),
                mp_context=mp.get_context("fork"),
                initializer=_enter,
                initargs=(current_app._get_current_object(), os.getpid()),  # type: ignore[attr-defined]
            )
        if self.first is not None:
            first_jobs, sent = self.first
            sent.append(self.pool.map(prepare, first_jobs, chunksize=RENDER_CHUNK))
            self.first = None
        results = self.pool.map(prepare, jobs, chunksize=RENDER_CHUNK)
        return lambda: list(results)

    def close(self) -> None:
        self.first = None
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def comment_row(incoming: IncomingComment, placed: Placed, site_id: int) -> dict[str, Any]:
    """The row of a new comment, from its prepared fields (``incoming.prepared``)."""
    assert incoming.prepared is not None
    body_text, body_html, author, kept, encrypted, lookup, avatar, has_email, _ = incoming.prepared
    return {
        "id": placed.id,
        "site_id": site_id,
        "thread_id": placed.thread_id,
        "parent_id": placed.parent_id,
        "root_id": placed.root_id,
        "depth": placed.depth,
        "author": author,
        "website": kept,
        "email_encrypted": encrypted,
        "email_lookup": lookup,
        "avatar": avatar,
        "body_text": body_text,
        "body_html": body_html,
        "status": incoming.status,
        "is_author": incoming.is_author,
        "notify": incoming.notify and has_email,
        "likes": max(incoming.likes, 0),
        "edit_token_hash": None,  # nobody holds an edit token for an imported comment
        "source_key": incoming.source_key,
        "created_at": incoming.created_at,
        "edited_at": incoming.edited_at,
        # A pin belongs to a top-level comment; one whose parent did not come along (a
        # data-subject export) is top-level here but was not pinned as such.
        "pinned_at": incoming.pinned_at if incoming.parent_key is None else None,
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
