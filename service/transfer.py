"""Moving a site in and out: the versioned JSON export, and the import machinery.

Every import has two phases. *Reading* (``read_json`` here, ``importers.read_isso`` and
``importers.read_disqus``) parses and checks the whole file and refuses a malformed one
before anything is written. *Applying* (``apply_batch``) writes everything in one
transaction: all of it or, on any error, nothing. Comments carry a ``source_key``
("json:12", "isso:7", "disqus:345"), unique per site, so running an import again adds
nothing. Imported comments send no notifications and have no edit token.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from service import markup
from service.caching import bump_site
from service.commenting import MAX_DEPTH
from service.crypto import avatar_seed, decrypt, email_lookup, encrypt
from service.db_types import utcnow, write_intent
from service.extensions import db
from service.models import COMMENT_STATUSES, LANGS, Category, Comment, RankEntry, Site, Thread
from service.schemas import (
    BIDI_RE,
    CATEGORY_KEY_RE,
    CONTROL_RE,
    LINE_CONTROL_RE,
    LINK_URL_RE,
    MAX_POSITION,
    FullMatch,
    StrictInteger,
    UtcDateTime,
    display_name,
)
from service.text_rules import LABEL_MAX, email_problem

FORMAT = "ranklet-export"
BATCH_ROWS = 1000  # comments per INSERT statement (and per block of PostgreSQL ids)
MAX_BODY = 5000  # characters, as for a comment posted through the API
MAX_COUNT = 2**31 - 1  # what an INTEGER column holds on every database
PARALLEL_FROM = 2000  # bodies from which rendering is spread over worker processes
VERSION = 1

T = TypeVar("T")


class ImportRefused(ValueError):
    """The file cannot be imported; the message says why. Nothing has been written."""


# --- the document -------------------------------------------------------------------------


class _Loose(Schema):
    """Fields this version does not know are ignored, so hand-annotated files still load."""

    class Meta:
        unknown = EXCLUDE


def _text(max_length: int | None = None, **kwargs: Any) -> fields.String:
    checks = [validate.Length(max=max_length)] if max_length else []
    return fields.String(allow_none=True, load_default=None, validate=checks, **kwargs)


class HistoryEntryDoc(_Loose):
    position = StrictInteger(required=True, validate=validate.Range(1, MAX_POSITION))
    observed_at = UtcDateTime(required=True)


class CategoryDoc(_Loose):
    key = fields.String(required=True, validate=FullMatch(CATEGORY_KEY_RE))
    labels = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGS)),
        values=fields.String(validate=display_name(LABEL_MAX)),  # the API's label rule
        required=True,
    )
    url = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(max=2048), FullMatch(LINK_URL_RE)],
    )
    order = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(0, 10_000))
    history = fields.List(fields.Nested(HistoryEntryDoc), load_default=list)


class CommentDoc(_Loose):
    id = StrictInteger(required=True, validate=validate.Range(1, 2**31 - 1))
    parent_id = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(1, 2**31 - 1)
    )
    # Where the comment first came from ("isso:7"), so an Isso import into the new site
    # later still recognizes it; absent for comments written in Ranklet.
    source = _text(128)
    author = _text(64)
    email = _text(254)
    website = _text(256)
    body = _text()  # the Markdown source; null for imported HTML (Disqus)
    body_html = fields.String(load_default="")
    status = fields.String(required=True, validate=validate.OneOf(COMMENT_STATUSES))
    is_author = fields.Boolean(load_default=False)
    notify = fields.Boolean(load_default=False)
    likes = StrictInteger(load_default=0, validate=validate.Range(0, 2**31 - 1))
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, load_default=None)


class ThreadDoc(_Loose):
    article = fields.String(required=True, validate=validate.Length(1, 512))
    title = _text(512)
    url = _text(2048)
    comments = fields.List(fields.Nested(CommentDoc), load_default=list)


class SiteDoc(_Loose):
    slug = fields.String(required=True)
    name = _text()
    origins = fields.List(fields.String(), load_default=None)
    lang = _text()
    moderation = _text()
    webhook_url = _text()
    notify_email = _text()
    notify_pending = fields.Boolean(load_default=None, allow_none=True)
    banned_words = fields.List(fields.String(), load_default=None)


class SubjectDoc(_Loose):
    email = fields.String(required=True)


class ExportDocument(_Loose):
    """Version 1 of the export file; readers refuse other formats and versions."""

    format = fields.String(required=True, validate=validate.Equal(FORMAT))
    version = StrictInteger(required=True, validate=validate.Equal(VERSION))
    exported_at = UtcDateTime(required=True)
    # Present only in a data-subject export (``--email``): whose data this is.
    subject = fields.Nested(SubjectDoc, load_default=None)
    site = fields.Nested(SiteDoc, required=True)
    categories = fields.List(fields.Nested(CategoryDoc), load_default=list)
    threads = fields.List(fields.Nested(ThreadDoc), load_default=list)


# --- export -------------------------------------------------------------------------------


def _comment_doc(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "source": comment.source_key,
        "author": comment.author,
        "email": decrypt(comment.email_encrypted),
        "website": comment.website,
        "body": comment.body_text or None,
        "body_html": comment.body_html,
        "status": comment.status,
        "is_author": comment.is_author,
        "notify": comment.notify,
        "likes": comment.likes,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
    }


def _category_docs(site: Site) -> list[dict[str, Any]]:
    ids = [c.id for c in site.categories]
    history: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for entry in db.session.scalars(
            select(RankEntry)
            .where(RankEntry.category_id.in_(ids))
            .order_by(RankEntry.category_id, RankEntry.observed_at)
        ):
            history[entry.category_id].append(
                {"position": entry.position, "observed_at": entry.observed_at}
            )
    return [
        {
            "key": c.key,
            "labels": dict(c.labels),
            "url": c.url,
            "order": c.order,
            "history": history[c.id],
        }
        for c in site.categories
    ]


def export_site(site: Site, email: str | None = None) -> dict[str, Any]:
    """The whole site as one JSON-ready document, private fields decrypted.

    With ``email`` it is a data-subject export: only that address's comments (matched by
    keyed hash, so case and surrounding spaces do not matter) and none of the author's
    own data (rankings, settings, notification addresses). Secrets are never exported:
    no token or edit-token hashes, no like keys, no webhook secret.
    """
    query = select(Comment).where(Comment.site_id == site.id)
    if email is not None:
        query = query.where(Comment.email_lookup == email_lookup(email))
    comments: dict[int, list[Comment]] = {}
    for comment in db.session.scalars(query.order_by(Comment.created_at, Comment.id)):
        comments.setdefault(comment.thread_id, []).append(comment)
    threads = db.session.scalars(
        select(Thread).where(Thread.site_id == site.id).order_by(Thread.id)
    )
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow(),
        "site": {"slug": site.slug, "name": site.name},
        "categories": [],
        "threads": [
            {
                "article": t.article,
                "title": t.title,
                "url": t.url,
                "comments": [_comment_doc(c) for c in comments.get(t.id, [])],
            }
            for t in threads
            if email is None or t.id in comments
        ],
    }
    if email is not None:
        document["subject"] = {"email": email.strip()}
    else:
        document["site"].update(
            origins=list(site.origins or []),
            lang=site.lang,
            moderation=site.moderation,
            webhook_url=site.webhook_url,
            notify_email=decrypt(site.notify_email_encrypted),
            notify_pending=site.notify_pending,
            banned_words=list(site.banned_words or []),
        )
        document["categories"] = _category_docs(site)
    return ExportDocument().dump(document)


def export_text(document: dict[str, Any]) -> str:
    """The file's text: UTF-8 JSON, indented so it diffs and greps well."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# --- what an import brings ----------------------------------------------------------------


@dataclass
class IncomingThread:
    article: str
    title: str | None = None
    url: str | None = None


@dataclass
class IncomingComment:
    source_key: str
    article: str
    created_at: datetime
    status: str
    parent_key: str | None = None
    author: str | None = None
    email: str | None = None
    website: str | None = None
    body_text: str = ""  # Markdown source, rendered on import
    body_html: str = ""  # foreign HTML, sanitized on import when there is no source
    is_author: bool = False
    notify: bool = False
    likes: int = 0
    edited_at: datetime | None = None
    original_id: int | None = None  # the comment's id in the exporting site (JSON only)


@dataclass
class IncomingEntry:
    position: int
    observed_at: datetime


@dataclass
class IncomingCategory:
    key: str
    labels: dict[str, str]
    url: str | None
    order: int | None
    history: list[IncomingEntry]


@dataclass
class ImportBatch:
    """A parsed, checked file: everything ``apply_batch`` writes, nothing it must ask."""

    source: str  # "JSON", "Isso", "Disqus", for the summary
    threads: list[IncomingThread] = field(default_factory=list)
    comments: list[IncomingComment] = field(default_factory=list)
    categories: list[IncomingCategory] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    adjusted: Counter[str] = field(default_factory=Counter)
    remarks: list[str] = field(default_factory=list)
    # The slug of the site a JSON export came from: importing it back into that same site
    # recognizes its comments by id, so a restore over a partly intact site adds no copies.
    origin_slug: str | None = None


@dataclass
class ImportSummary:
    site: str
    source: str
    threads: int = 0
    threads_created: int = 0
    imported: Counter[str] = field(default_factory=Counter)  # by status
    skipped: Counter[str] = field(default_factory=Counter)
    adjusted: Counter[str] = field(default_factory=Counter)
    categories_created: int = 0
    categories_updated: int = 0
    history_added: int = 0
    history_present: int = 0
    remarks: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def comments(self) -> int:
        return sum(self.imported.values())

    def lines(self) -> list[str]:
        """The summary the CLI prints: counts, then every reason, largest first."""
        by_status = ", ".join(
            f"{n} {status}" for status in COMMENT_STATUSES if (n := self.imported[status])
        )
        outcome = (
            "dry run, nothing was written (this is what an import would do)."
            if self.dry_run
            else "committed in one transaction."
        )
        lines = [
            f"{self.source} import into site {self.site!r}: {outcome}",
            f"Threads:  {self.threads} ({self.threads_created} new)",
            f"Comments: {self.comments} imported" + (f" ({by_status})" if by_status else ""),
        ]
        if self.categories_created or self.categories_updated or self.history_added:
            lines.append(
                f"Categories: {self.categories_created} new, {self.categories_updated} updated;"
                f" rank history: {self.history_added} entries added,"
                f" {self.history_present} already present"
            )
        lines.append(f"Skipped:  {sum(self.skipped.values())}")
        lines += [f"  {n} × {reason}" for reason, n in self.skipped.most_common()]
        if self.adjusted:
            lines.append(f"Adjusted: {sum(self.adjusted.values())}")
            lines += [f"  {n} × {reason}" for reason, n in self.adjusted.most_common()]
        return lines + self.remarks


# --- reading a Ranklet export -------------------------------------------------------------


def _first_errors(messages: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _first_errors(value, f"{prefix}{key}.")
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield f"{prefix.rstrip('.')}: {' '.join(messages)}"
    elif isinstance(messages, list):
        for value in messages:
            yield from _first_errors(value, prefix)
    else:
        yield f"{prefix.rstrip('.')}: {messages}"


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(value: Any) -> bool:
    """Whether every string in ``value`` can be stored (half a surrogate pair cannot)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def read_json(path: str) -> ImportBatch:
    """Parse and check a Ranklet export; refuse anything but format 1 of ``ranklet-export``."""
    try:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        raw = json.loads(source)
    except UnicodeDecodeError:
        raise ImportRefused(f"{path} is not UTF-8 text, so not a Ranklet export") from None
    except json.JSONDecodeError as error:
        raise ImportRefused(f"{path} is not JSON ({error})") from None
    except RecursionError:
        raise ImportRefused(f"{path} nests arrays or objects too deeply for an export") from None
    except ValueError as error:  # an integer of thousands of digits (int_max_str_digits)
        raise ImportRefused(f"{path} holds a number Ranklet cannot read ({error})") from None
    if _SURROGATE_ESCAPE.search(source) and not _encodable(raw):
        raise ImportRefused(f"{path} holds an unpaired surrogate escape (such as \\ud800)")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ImportRefused(f'{path} is not a Ranklet export (no "format": "{FORMAT}")')
    if raw.get("version") != VERSION:
        raise ImportRefused(
            f"{path} is export version {raw.get('version')!r}; this Ranklet reads version "
            f"{VERSION} (upgrade Ranklet to import files from a newer one)"
        )
    try:
        document = ExportDocument().load(raw)
    except ValidationError as error:
        problems = list(_first_errors(error.messages))
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ImportRefused(
            f"{path} is not a valid Ranklet export: {'; '.join(problems[:5])}{more}"
        ) from None
    batch = ImportBatch(source="JSON", origin_slug=document["site"]["slug"])
    for category in document["categories"]:
        batch.categories.append(
            IncomingCategory(
                key=category["key"],
                labels=category["labels"],
                url=category["url"],
                order=category["order"],
                history=[IncomingEntry(**entry) for entry in category["history"]],
            )
        )
    seen: set[str] = set()
    for thread in document["threads"]:
        batch.threads.append(IncomingThread(thread["article"], thread["title"], thread["url"]))
        for comment in thread["comments"]:
            key = comment["source"] or f"json:{comment['id']}"
            if key in seen:
                batch.skipped["appears twice in the file"] += 1
                continue
            seen.add(key)
            batch.comments.append(
                IncomingComment(
                    source_key=key,
                    article=thread["article"],
                    created_at=comment["created_at"],
                    status=comment["status"],
                    parent_key=None,  # resolved below, once every id is known
                    author=comment["author"],
                    email=comment["email"],
                    website=comment["website"],
                    body_text=comment["body"] or "",
                    body_html=comment["body_html"],
                    is_author=comment["is_author"],
                    notify=comment["notify"],
                    likes=comment["likes"],
                    edited_at=comment["edited_at"],
                    original_id=comment["id"],
                )
            )
    keys = {c.original_id: c.source_key for c in batch.comments}
    parents = {
        comment["id"]: comment["parent_id"]
        for thread in document["threads"]
        for comment in thread["comments"]
    }
    for incoming in batch.comments:
        parent_id = parents.get(incoming.original_id)
        if parent_id is not None:
            # A parent outside the file (a data-subject export) leaves the reply top-level.
            incoming.parent_key = keys.get(parent_id, f"json:{parent_id}")
    batch.remarks.append(
        "Site settings in the file (name, origins, moderation, notification addresses) were "
        "not applied; change them with `ranklet site update` if you want them."
    )
    return batch


# --- applying a batch ---------------------------------------------------------------------


@dataclass
class _Placed:
    """Where a comment sits in its tree: what a reply to it needs to know."""

    id: int
    thread_id: int
    depth: int
    root_id: int
    parent_id: int | None


_PLACED_COLUMNS = (
    Comment.id,
    Comment.thread_id,
    Comment.depth,
    Comment.root_id,
    Comment.parent_id,
)
_LINK_URL = re.compile(LINK_URL_RE)
_BARE_HOST = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?=[:/?#]|$)")


def _chunks(items: list[T], size: int = 500) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _line(value: str | None, limit: int) -> str | None:
    """One line of foreign text, made storable: no controls or bidi tricks, within limit."""
    if value is None:
        return None
    value = BIDI_RE.sub("", LINE_CONTROL_RE.sub(" ", value)).strip()
    return value[:limit].strip() or None


def _website(value: str | None) -> str | None:
    value = (value or "").strip()
    if _BARE_HOST.match(value):
        value = "http://" + value  # Isso stores what the reader typed, often without scheme
    if len(value) <= 256 and _LINK_URL.fullmatch(value):
        return value
    return None


def _thread_url(url: str | None) -> str | None:
    url = url if url and len(url) <= 2048 else None
    return url if url and _LINK_URL.fullmatch(url) else None


def _thread_of(comment: IncomingComment) -> IncomingThread:
    return IncomingThread(comment.article)


def _article_problem(article: str) -> str | None:
    if not 1 <= len(article) <= 512:
        return "article key empty or longer than 512 characters"
    if LINE_CONTROL_RE.search(article):
        return "article key with control characters"
    return None


def _comment_problem(incoming: IncomingComment, text: str, html: str) -> str | None:
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


def _render(body: tuple[str, str]) -> tuple[str, str]:
    """(Markdown source, stored HTML): Markdown rendered, or else foreign HTML sanitized."""
    text, html = body
    return text, markup.render_comment(text) if text else markup.import_html(
        CONTROL_RE.sub("", html)
    )


def render_bodies(bodies: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Every body rendered once, in order; a large import spreads the work over the cores.

    Markdown rendering is most of an import's time, and it is pure: forked workers do it
    while this process writes. Small files are rendered here (a fork costs more)."""
    cores = os.cpu_count() or 1
    if len(bodies) < PARALLEL_FROM or cores < 2 or "fork" not in mp.get_all_start_methods():
        yield from map(_render, bodies)
        return
    context = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(cores, 4), mp_context=context) as pool:
        yield from pool.map(_render, bodies, chunksize=250)


class _Writer:
    """Applies one batch inside the caller's transaction."""

    def __init__(
        self, site: Site, batch: ImportBatch, progress: Callable[[int], None] | None
    ) -> None:
        self.site = site
        self.batch = batch
        self.progress = progress or (lambda _n: None)
        self.summary = ImportSummary(
            site.slug,
            batch.source,
            skipped=Counter(batch.skipped),
            adjusted=Counter(batch.adjusted),
            remarks=list(batch.remarks),
        )
        self.placed: dict[str, _Placed] = {}
        self.by_id: dict[int, _Placed] = {}
        self.threads: dict[str, int] = {}  # article -> thread id
        self.touched: set[int] = set()
        self.rows: list[dict[str, Any]] = []  # comments waiting for their INSERT
        self.free_ids: list[int] = []
        self.last_id: int | None = None

    def run(self) -> ImportSummary:
        if self.batch.categories:
            self._categories()
        self._threads([*self.batch.threads, *map(_thread_of, self.batch.comments)])
        self._load_placed()
        ordered = list(self._parents_first(self.batch.comments))
        problems: dict[str, str] = {}
        bodies: list[tuple[str, str]] = []
        for c in ordered:
            if c.source_key in self.placed:
                continue
            body = (CONTROL_RE.sub("", c.body_text).strip(), c.body_html)
            if problem := _comment_problem(c, *body):
                problems[c.source_key] = problem
            else:
                bodies.append(body)
        rendered = render_bodies(bodies)
        for incoming in ordered:
            if incoming.source_key in self.placed:
                self.summary.skipped["already imported"] += 1
            elif incoming.source_key in problems:
                self.summary.skipped[problems[incoming.source_key]] += 1
            else:
                self._comment(incoming, *next(rendered))
            self.progress(1)
            if len(self.rows) >= BATCH_ROWS:
                self._write_rows()
        self._write_rows()
        self._recount()
        return self.summary

    # rankings

    def _categories(self) -> None:
        existing = {c.key: c for c in self.site.categories}
        next_order = max((c.order for c in existing.values()), default=-1) + 1
        for incoming in self.batch.categories:
            category = existing.get(incoming.key)
            if category is None:
                category = Category(site_id=self.site.id, key=incoming.key, order=next_order)
                next_order += 1
                db.session.add(category)
                self.summary.categories_created += 1
            else:
                self.summary.categories_updated += 1
            category.labels = dict(incoming.labels)
            category.url = incoming.url
            if incoming.order is not None:
                category.order = incoming.order
            db.session.flush()
            present = set(
                db.session.scalars(
                    select(RankEntry.observed_at).where(RankEntry.category_id == category.id)
                )
            )
            for entry in incoming.history:
                if entry.observed_at in present:
                    self.summary.history_present += 1
                    continue
                present.add(entry.observed_at)
                db.session.add(
                    RankEntry(
                        category_id=category.id,
                        position=entry.position,
                        observed_at=entry.observed_at,
                    )
                )
                self.summary.history_added += 1
        bump_site(self.site.id)

    # threads and comments

    def _threads(self, incoming: list[IncomingThread]) -> None:
        """Every thread the batch names, found or created with a few statements per 500."""
        wanted: dict[str, IncomingThread] = {}
        for thread in incoming:
            if thread.article not in wanted and not _article_problem(thread.article):
                wanted[thread.article] = thread
            elif thread.article in wanted and not wanted[thread.article].title:
                wanted[thread.article] = thread  # the first one that has a title wins
        now = utcnow()
        for chunk in _chunks(list(wanted)):
            found = {
                row.article: row
                for row in db.session.execute(
                    select(Thread.id, Thread.article, Thread.title, Thread.url).where(
                        Thread.site_id == self.site.id, Thread.article.in_(chunk)
                    )
                )
            }
            new = [wanted[article] for article in chunk if article not in found]
            if new:
                db.session.execute(
                    insert(Thread),
                    [
                        {
                            "site_id": self.site.id,
                            "article": t.article,
                            "title": _line(t.title, 512),
                            "url": _thread_url(t.url),
                            "approved_count": 0,
                            "version": 0,
                            "created_at": now,
                        }
                        for t in new
                    ],
                )
                self.summary.threads_created += len(new)
                found.update(
                    (row.article, row)
                    for row in db.session.execute(
                        select(Thread.id, Thread.article, Thread.title, Thread.url).where(
                            Thread.site_id == self.site.id,
                            Thread.article.in_([t.article for t in new]),
                        )
                    )
                )
            for article in chunk:
                row = found[article]
                self.threads[article] = row.id
                title, url = _line(wanted[article].title, 512), _thread_url(wanted[article].url)
                if (title and not row.title) or (url and not row.url):
                    db.session.execute(
                        update(Thread)
                        .where(Thread.id == row.id)
                        .values(title=row.title or title, url=row.url or url)
                    )
        self.summary.threads = len(self.threads)

    def _load_placed(self) -> None:
        keys = [c.source_key for c in self.batch.comments]
        for chunk in _chunks(keys):
            for key, *row in db.session.execute(
                select(Comment.source_key, *_PLACED_COLUMNS).where(
                    Comment.site_id == self.site.id, Comment.source_key.in_(chunk)
                )
            ):
                self._remember(key, _Placed(*row))
        if self.batch.origin_slug != self.site.slug:
            return
        # Back into the site it came from: a comment still there under its id is not new.
        wanted = {
            c.original_id: c
            for c in self.batch.comments
            if c.original_id is not None and c.source_key not in self.placed
        }
        for chunk in _chunks(list(wanted)):
            for created_at, *row in db.session.execute(
                select(Comment.created_at, *_PLACED_COLUMNS).where(
                    Comment.site_id == self.site.id, Comment.id.in_(chunk)
                )
            ):
                incoming = wanted[row[0]]
                if created_at == incoming.created_at:
                    self._remember(incoming.source_key, _Placed(*row))

    def _remember(self, key: str, placed: _Placed) -> None:
        self.placed[key] = placed
        self.by_id[placed.id] = placed

    def _parents_first(self, comments: list[IncomingComment]) -> Iterator[IncomingComment]:
        """Oldest first, but never a reply before its parent, whatever the file's order."""
        by_key = {c.source_key: c for c in comments}
        done: set[str] = set()
        for comment in sorted(comments, key=lambda c: (c.created_at, c.source_key)):
            chain: list[IncomingComment] = []
            on_chain: set[str] = set()
            current: IncomingComment | None = comment
            while current is not None and current.source_key not in done:
                if current.source_key in on_chain:  # a cycle: cut it at its last link
                    chain[-1].parent_key = None
                    self.summary.adjusted["reply in a parent cycle: made top-level"] += 1
                    break
                chain.append(current)
                on_chain.add(current.source_key)
                current = by_key.get(current.parent_key) if current.parent_key else None
            for item in reversed(chain):
                done.add(item.source_key)
                yield item

    def _placed_by_id(self, comment_id: int) -> _Placed | None:
        if comment_id not in self.by_id:
            row = db.session.execute(
                select(*_PLACED_COLUMNS).where(Comment.id == comment_id)
            ).first()
            if row is None:
                return None
            self.by_id[comment_id] = _Placed(*row)
        return self.by_id[comment_id]

    def _parent(self, incoming: IncomingComment, thread_id: int) -> _Placed | None:
        if incoming.parent_key is None:
            return None
        parent = self.placed.get(incoming.parent_key)
        if parent is None:
            self.summary.adjusted["reply whose parent is missing: made top-level"] += 1
            return None
        if parent.thread_id != thread_id:
            self.summary.adjusted["reply to another article's comment: made top-level"] += 1
            return None
        if parent.depth >= MAX_DEPTH and parent.parent_id is not None:
            # Ranklet's rule: a reply to a level-5 comment lands beside it, at level 5.
            self.summary.adjusted[
                f"reply nested deeper than {MAX_DEPTH} levels: kept at level {MAX_DEPTH}"
            ] += 1
            return self._placed_by_id(parent.parent_id) or parent
        return parent

    def _comment(self, incoming: IncomingComment, body_text: str, body_html: str) -> None:
        thread_id = self.threads.get(incoming.article)
        if thread_id is None:
            self.summary.skipped[
                _article_problem(incoming.article) or "article key not usable"
            ] += 1
            return
        parent = self._parent(incoming, thread_id)
        author = _line(incoming.author, 64)
        email = (incoming.email or "").strip() or None
        if email and email_problem(email):  # the API's address rule
            self.summary.adjusted["e-mail address that is not one: dropped"] += 1
            email = None
        website = _website(incoming.website)
        if incoming.website and website is None:
            self.summary.adjusted["website that is not an http(s) URL: dropped"] += 1
        comment_id = self._next_id()
        placed = _Placed(
            comment_id,
            thread_id,
            parent.depth + 1 if parent else 1,
            parent.root_id if parent else comment_id,
            parent.id if parent else None,
        )
        self.rows.append(
            {
                "id": comment_id,
                "site_id": self.site.id,
                "thread_id": thread_id,
                "parent_id": placed.parent_id,
                "root_id": placed.root_id,
                "depth": placed.depth,
                "author": author,
                "website": website,
                "email_encrypted": encrypt(email),
                "email_lookup": email_lookup(email),
                "avatar": avatar_seed(self.site.id, author, email),
                "body_text": body_text,
                "body_html": body_html,
                "status": incoming.status,
                "is_author": incoming.is_author,
                "notify": incoming.notify and email is not None,
                "likes": max(incoming.likes, 0),
                "edit_token_hash": None,  # nobody holds an edit token for an imported comment
                "source_key": incoming.source_key,
                "created_at": incoming.created_at,
                "edited_at": incoming.edited_at,
            }
        )
        self._remember(incoming.source_key, placed)
        self.touched.add(thread_id)
        self.summary.imported[incoming.status] += 1

    def _next_id(self) -> int:
        """Comment ids chosen before the insert, so a reply's row can name its parent's.

        PostgreSQL hands out a block from the table's own sequence in one round trip; on
        SQLite the import holds the write lock (BEGIN IMMEDIATE), so max(id) + 1 onwards is
        exactly what SQLite itself would have chosen."""
        if not self.free_ids:
            if db.session.get_bind().dialect.name == "postgresql":
                self.free_ids = list(
                    db.session.scalars(
                        text(
                            "SELECT nextval(pg_get_serial_sequence('comments', 'id'))"
                            " FROM generate_series(1, :n)"
                        ),
                        {"n": BATCH_ROWS},
                    )
                )
                self.free_ids.reverse()
            else:
                if self.last_id is None:
                    self.last_id = db.session.scalar(select(func.max(Comment.id))) or 0
                self.last_id += 1
                return self.last_id
        return self.free_ids.pop()

    def _write_rows(self) -> None:
        """One multi-row INSERT for a batch, in order: a parent is always written first."""
        if self.rows:
            db.session.execute(insert(Comment.__table__), self.rows)
            self.rows = []

    def _recount(self) -> None:
        """Approved counts from the rows themselves, and new versions for fresh ETags."""
        db.session.flush()
        approved = (
            select(func.count())
            .where(Comment.thread_id == Thread.id, Comment.status == "approved")
            .scalar_subquery()
        )
        for chunk in _chunks(sorted(self.touched)):
            db.session.execute(
                update(Thread)
                .where(Thread.id.in_(chunk))
                .values(approved_count=approved, version=Thread.version + 1)
                .execution_options(synchronize_session=False)
            )


def apply_batch(
    site: Site,
    batch: ImportBatch,
    progress: Callable[[int], None] | None = None,
    *,
    dry_run: bool = False,
) -> ImportSummary:
    """Write a checked batch in one transaction: everything, or on any error nothing.

    A dry run does all the same work and checks inside the transaction, then rolls it
    back, so its summary is exactly what the real import would say.
    """
    site_id = site.id
    intent = write_intent.set(True)  # SQLite: take the write lock up front (BEGIN IMMEDIATE)
    try:
        db.session.rollback()  # end the read transaction the caller's lookups opened
        target = db.session.get(Site, site_id)
        if target is None:
            raise ImportRefused("the site was deleted while the file was being read")
        summary = _Writer(target, batch, progress).run()
        summary.dry_run = dry_run
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        return summary
    except IntegrityError:
        db.session.rollback()
        raise ImportRefused(
            "the site changed while importing (another import at the same time?); "
            "nothing was written, run the import again"
        ) from None
    except BaseException:
        db.session.rollback()
        raise
    finally:
        write_intent.reset(intent)
