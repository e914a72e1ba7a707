"""The threads an import names: found or created a few statements per 500, remembered by
article (one small entry per thread), titles and links filled in where missing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from service.core.extensions import db
from service.db.models import Thread
from service.db.types import utcnow
from service.transfer.items import IncomingThread
from service.transfer.rows import article_problem, line, thread_url

_CHUNK = 500


@dataclass(slots=True)
class _ThreadState:
    id: int
    has_title: bool
    has_url: bool


class ImportThreads:
    """Every thread of one site an import has named so far, by article."""

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.by_article: dict[str, _ThreadState] = {}
        self.created = 0

    def __len__(self) -> int:
        return len(self.by_article)

    def __contains__(self, article: str) -> bool:
        return article in self.by_article

    def id_of(self, article: str) -> int:
        return self.by_article[article].id

    def resolve(self, named: Iterable[IncomingThread]) -> None:
        """Find or create each thread named (an unusable article key is left out); the
        first one named with a title gives it, and an existing thread keeps its own."""
        wanted: dict[str, IncomingThread] = {}
        for thread in named:
            if thread.article not in wanted and not article_problem(thread.article):
                wanted[thread.article] = thread
            elif thread.article in wanted and not wanted[thread.article].title:
                wanted[thread.article] = thread  # the first one that has a title wins
        new = [wanted[article] for article in wanted if article not in self.by_article]
        for start in range(0, len(new), _CHUNK):
            self._find_or_create(new[start : start + _CHUNK])
        for article, thread in wanted.items():
            state = self.by_article[article]
            values: dict[str, str] = {}
            if not state.has_title and (title := line(thread.title, 512)):
                values["title"], state.has_title = title, True
            if not state.has_url and (url := thread_url(thread.url)):
                values["url"], state.has_url = url, True
            if values:
                db.session.execute(update(Thread).where(Thread.id == state.id).values(**values))

    def _find(self, articles: list[str]) -> None:
        for row in db.session.execute(
            select(Thread.id, Thread.article, Thread.title, Thread.url).where(
                Thread.site_id == self.site_id, Thread.article.in_(articles)
            )
        ):
            self.by_article[row.article] = _ThreadState(row.id, bool(row.title), bool(row.url))

    def _find_or_create(self, chunk: list[IncomingThread]) -> None:
        self._find([t.article for t in chunk])
        new = [t for t in chunk if t.article not in self.by_article]
        if not new:
            return
        now = utcnow()
        db.session.execute(
            insert(Thread),
            [
                {
                    "site_id": self.site_id,
                    "article": t.article,
                    "title": line(t.title, 512),
                    "url": thread_url(t.url),
                    "approved_count": 0,
                    "version": 0,
                    "created_at": now,
                }
                for t in new
            ],
        )
        self.created += len(new)
        self._find([t.article for t in new])
