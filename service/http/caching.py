"""Conditional GETs: ETags from version counters, so a 304 costs an indexed lookup at most.

Sites and threads carry a ``version`` bumped in the same transaction as every change, in the
database, so every worker and host agrees at once. Bodies kept in process memory are keyed
by those versions (here) or checked against them before use (``service.hot_reads``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema
from sqlalchemy import select, update

from service.core.extensions import db
from service.db.models import Site, Thread
from service.http.hot_reads import THREAD_VERSIONS, ReadCheck, mark, thread_token
from service.sites.settings import SLUG_RE, no_site

# Short browser/CDN lifetimes: a new comment or position shows within seconds, and the
# revalidation that follows is a cheap 304.
THREAD_CACHE = "public, max-age=5, s-maxage=10, stale-while-revalidate=30"
RANKINGS_CACHE = "public, max-age=60, s-maxage=60, stale-while-revalidate=300"


def bump_site(site_id: int) -> None:
    db.session.execute(update(Site).where(Site.id == site_id).values(version=Site.version + 1))


@dataclass(frozen=True)
class Versions:
    site_id: int
    site: int
    thread: int
    comments: int  # the site's comments version: any comment of the site changed


def versions(slug: str, article: str = "") -> Versions | None:
    """Site and thread versions in one indexed Core query: all a cache hit needs."""
    if not SLUG_RE.fullmatch(slug):
        return None  # impossible names never reach the database (NUL is a 500 on PG)
    row = db.session.connection().execute(THREAD_VERSIONS, {"slug": slug, "article": article})
    token = thread_token(row.first(), with_comments=True)
    if token is None:
        return None
    return Versions(*token)


def versions_or_404(slug: str, article: str = "") -> Versions:
    found = versions(slug, article)
    if found is None:
        no_site(slug)
    return found


def thread_read(slug: str, article: str, *, with_recent: bool = False) -> Versions:
    """The versions a thread read is built from; the answer may be kept by ``hot_reads``.
    ``with_recent``: the answer also holds the site's recent comments."""
    known = versions_or_404(slug, article)
    token: tuple[int, ...] = (known.site_id, known.site, known.thread)
    if with_recent:
        token = (*token, known.comments)
    kind = "thread+recent" if with_recent else "thread"
    mark(request.environ, ReadCheck(kind, slug, (article,), token))
    return known


def recent_read(slug: str) -> Versions:
    """The versions the site's recent-comments list is built from (kept by ``hot_reads``)."""
    known = versions_or_404(slug)
    token = (known.site_id, known.site, known.thread, known.comments)
    mark(request.environ, ReadCheck("recent", slug, (), token))
    return known


def thread_version(site: Site, article: str) -> int:
    version = db.session.scalar(
        select(Thread.version).where(Thread.site_id == site.id, Thread.article == article)
    )
    return -1 if version is None else int(version)


def etag_for(*parts: Any) -> str:
    config = current_app.config
    basis = repr((parts, config["EDIT_WINDOW"], bool(config.get("SMTP_HOST"))))
    return hashlib.sha256(basis.encode()).hexdigest()[:27]


def not_modified(etag: str, cache_control: str) -> Response | None:
    """A bodiless 304 when the client already has this version, else None."""
    if etag in request.if_none_match:
        response = Response(status=304)
        decorate(response, etag, cache_control)
        return response
    return None


def decorate(response: Response, etag: str, cache_control: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


class ResponseCache:
    """Rendered bodies keyed by their ETag, bounded in entries and bytes.

    An ETag is derived from the database's version counters, which every request reads
    first; a changed version makes a new key, so an entry can be stale in no worker and on
    no host. Old entries simply age out of the LRU.
    """

    def __init__(self, max_entries: int = 2048, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._rendering: dict[str, threading.Lock] = {}
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> bytes:
        """Render once per key even when many requests miss at the same moment.

        A thundering herd on a cold thread (a post going viral) then costs the database one
        render per process, not one per waiting request.
        """
        with self._lock:
            lock = self._rendering.setdefault(key, threading.Lock())
        with lock:
            body = self.get(key)
            if body is None:
                body = render()
                self.put(key, body)
        with self._lock:
            if self._rendering.get(key) is lock:
                del self._rendering[key]
        return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 16:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous)
            self._entries[key] = body
            self._bytes += len(body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)


def from_cache(etag: str, cache_control: str, mimetype: str) -> Response | None:
    """A 304 when the client has this version, the stored body when this process has it."""
    if (unchanged := not_modified(etag, cache_control)) is not None:
        return unchanged
    body = current_app.extensions["ranklet_cache"].get(etag)
    if body is None:
        return None
    return decorate(Response(body, mimetype=mimetype), etag, cache_control)


def cached_response(
    etag: str, cache_control: str, render: Callable[[], bytes], mimetype: str
) -> Response:
    """From the cache when possible; otherwise render once and keep the body."""
    if (hit := from_cache(etag, cache_control, mimetype)) is not None:
        return hit
    body = current_app.extensions["ranklet_cache"].get_or_render(etag, render)
    return decorate(Response(body, mimetype=mimetype), etag, cache_control)


_SCHEMAS: dict[type[Schema], Schema] = {}


def render_json(schema: type[Schema], data: Any) -> bytes:
    """``data`` dumped by ``schema`` (one shared instance per class: dumping keeps no state,
    and building a schema costs more than dumping a small document)."""
    instance = _SCHEMAS.get(schema)
    if instance is None:
        instance = _SCHEMAS[schema] = schema()
    return current_app.json.dumps(instance.dump(data)).encode()  # type: ignore[no-any-return]
