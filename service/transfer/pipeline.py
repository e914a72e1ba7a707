"""Writing an import: one transaction, in batches, with memory flat in the file's size.

The writer takes a reader's items as they come, ``BATCH_ROWS`` comments at a time. Per
batch it finds or creates the threads named, looks the batch's source keys up once (a
comment already there is skipped, which makes imports idempotent), checks each comment
against the API's rules and hands it to the workers that prepare its row
(``transfer_rows``); meanwhile it writes the previous batch in one multi-row INSERT, with
ids reserved up front so a reply's row names its parent's. It keeps only the batch at
hand, one entry per thread, and the replies that wait for a parent the file has not
shown yet (``ParkedComments``). A reply's parent is looked up in the site, one query per
batch, so a reply to a comment imported before, from an earlier file, keeps its place
too. Once the file is read, a reply whose parent never came is made top-level, and a
cycle of replies is cut where a walk up the parents from its oldest comment closes the
loop. Everything is one transaction: any error, or a refusal part way through the file,
and nothing is written. Imported comments send no notifications and have no edit token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from service.comments.threads import MAX_DEPTH, site_comments_changed
from service.core.extensions import db
from service.core.text_rules import canonical_article
from service.db.models import Comment, Site, Thread
from service.db.types import write_intent
from service.transfer.items import (
    ImportRefused,
    ImportSource,
    ImportSummary,
    IncomingComment,
    IncomingThread,
)
from service.transfer.parked import ParkedComments
from service.transfer.rankings import import_categories
from service.transfer.rows import (
    CommentIds,
    Job,
    Placed,
    RowPreparer,
    article_problem,
    body_of,
    comment_problem,
    comment_row,
)
from service.transfer.threads import ImportThreads

BATCH_ROWS = 1000  # comments per batch: one INSERT, one block of PostgreSQL ids
_CHUNK = 500  # keys per IN (...)
_PLACED_COLUMNS = (Comment.id, Comment.thread_id, Comment.depth, Comment.root_id, Comment.parent_id)
_MISSING = "reply whose parent is missing: made top-level"

T = TypeVar("T")


def _chunks(items: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Batch:
    threads: list[IncomingThread] = field(default_factory=list)
    comments: list[IncomingComment] = field(default_factory=list)
    placed: dict[str, Placed] = field(default_factory=dict)  # this batch's comments, by key
    fresh: list[IncomingComment] = field(default_factory=list)  # to write, once rendered
    prepared: Callable[[], list[tuple[Any, ...]]] = list


class _Writer:
    """Applies one source inside the caller's transaction."""

    def __init__(
        self, site: Site, source: ImportSource, progress: Callable[[int], None] | None
    ) -> None:
        self.site = site
        self.source = source
        self.progress = progress or (lambda _n: None)
        self.summary = ImportSummary(site.slug, source.source)
        self.skipped: Counter[str] = Counter()
        self.adjusted: Counter[str] = Counter()
        self.threads = ImportThreads(site.id)
        self.touched: set[int] = set()
        self.parked = ParkedComments()
        self.preparer = RowPreparer()
        self.rows: list[dict[str, Any]] = []  # comments waiting for their INSERT
        self.rendering: set[str] = set()  # keys of the batch being rendered, not yet written
        self.by_original_id: dict[str, Placed] = {}  # a restore's comments found by their id
        self.author_keys: list[str] = []
        self.ids = CommentIds()
        self.first_id = self.ids.first  # every comment this import writes has one from here
        self.reported = 0

    def run(self) -> ImportSummary:
        try:
            if self.source.categories:
                import_categories(self.site, self.source.categories, self.summary)
            previous: _Batch | None = None
            for batch in self._batches():
                self._prepare(batch)  # its rows are prepared while the previous batch is written
                if previous is not None:
                    self._write(previous)
                previous = batch
            if previous is not None:
                self._write(previous)
            self._place_the_rest()
            self._mark_authors()
            self._recount()
        finally:
            self.preparer.close()
            self.parked.close()
        self._report_progress(done=True)
        summary, source = self.summary, self.source
        summary.threads, summary.threads_created = len(self.threads), self.threads.created
        summary.skipped = Counter(source.skipped)
        summary.skipped.update(self.skipped)
        summary.adjusted = Counter(source.adjusted)
        summary.adjusted.update(self.adjusted)
        summary.remarks = list(source.remarks)
        return summary

    def _batches(self) -> Iterator[_Batch]:
        batch = _Batch()
        for item in self.source.items:
            if isinstance(item, IncomingComment):
                batch.comments.append(item)
                if len(batch.comments) >= BATCH_ROWS:
                    yield batch
                    batch = _Batch()
            elif isinstance(item, IncomingThread):
                batch.threads.append(item)
            else:
                self.author_keys.extend(item.source_keys)
        if batch.comments or batch.threads:
            yield batch

    # reading a batch: threads, what is there already, the rules, then rendering

    def _prepare(self, batch: _Batch) -> None:
        # Every reader's keys, however the file spells them, become the one canonical key
        # here (API.md §4), so no importer can split a thread or miss an existing one.
        for item in (*batch.threads, *batch.comments):
            item.article = canonical_article(item.article)
        self.threads.resolve([*batch.threads, *(IncomingThread(c.article) for c in batch.comments)])
        keys = [c.source_key for c in batch.comments]
        found = self._placed_by_key(keys)
        parked = self.parked.holding(keys)
        if self.source.origin_slug == self.site.slug:
            self._found_by_original_id(batch, found)
        seen: set[str] = set()
        jobs: list[Job] = []
        for incoming in batch.comments:
            key, body = incoming.source_key, body_of(incoming)
            there = found.get(key)
            if key in seen or key in self.rendering or key in parked:
                self.skipped["appears twice in the file"] += 1
            elif there is not None and there.id >= self.first_id:
                self.skipped["appears twice in the file"] += 1  # written by this import
            elif there is not None:
                self.skipped["already imported"] += 1
                batch.placed[key] = there
            elif problem := comment_problem(incoming, *body):
                self.skipped[problem] += 1
            elif incoming.article not in self.threads:
                self.skipped[article_problem(incoming.article) or "article key not usable"] += 1
            else:
                batch.fresh.append(incoming)
                who = (incoming.author, incoming.email, incoming.website)
                jobs.append((self.site.id, *body, *who))
            seen.add(key)
        batch.prepared = self.preparer.start(jobs)
        self.rendering = {c.source_key for c in batch.fresh}

    def _placed_by_key(self, keys: list[str]) -> dict[str, Placed]:
        """The site's comments with these source keys: one indexed lookup per 500 keys."""
        placed: dict[str, Placed] = {}
        for chunk in _chunks(sorted(set(keys))):
            for key, *row in db.session.execute(
                select(Comment.source_key, *_PLACED_COLUMNS).where(
                    Comment.site_id == self.site.id, Comment.source_key.in_(chunk)
                )
            ):
                placed[key] = Placed(*row)
        return placed

    def _found_by_original_id(self, batch: _Batch, found: dict[str, Placed]) -> None:
        """Back into the site it came from: a comment still there under its id is not new."""
        wanted = {
            c.original_id: c
            for c in batch.comments
            if c.original_id is not None and c.source_key not in found
        }
        for chunk in _chunks(list(wanted)):
            for created_at, *row in db.session.execute(
                select(Comment.created_at, *_PLACED_COLUMNS).where(
                    Comment.site_id == self.site.id,
                    Comment.id.in_(chunk),
                    Comment.id < self.first_id,
                )
            ):
                incoming = wanted[row[0]]
                if created_at == incoming.created_at:
                    found[incoming.source_key] = self.by_original_id[incoming.source_key] = Placed(
                        *row
                    )

    # writing a batch

    def _write(self, batch: _Batch) -> None:
        for key, placed in list(batch.placed.items()):  # already there: what waited may go
            for child in self.parked.take(key):
                self._place(child, placed)
        later: list[IncomingComment] = []
        for incoming, prepared in zip(batch.fresh, batch.prepared(), strict=True):
            incoming.prepared = prepared
            parent = self._known_parent(incoming, batch)
            if incoming.parent_key is not None and parent is None:
                later.append(incoming)
            else:
                self._place(incoming, parent, batch)
        self._flush()
        if later:  # parents from earlier batches are rows by now: one lookup for them all
            found = self._placed_by_key([c.parent_key for c in later if c.parent_key])
            for incoming in later:
                assert incoming.parent_key is not None
                parent = self._known_parent(incoming, batch) or found.get(incoming.parent_key)
                if parent is None:
                    self.parked.add(incoming.parent_key, incoming)
                else:
                    self._place(incoming, parent, batch)
            self._flush()
        self._report_progress()

    def _known_parent(self, incoming: IncomingComment, batch: _Batch) -> Placed | None:
        key = incoming.parent_key
        if key is None:
            return None
        return batch.placed.get(key) or self.by_original_id.get(key)

    def _place(
        self, incoming: IncomingComment, parent: Placed | None, batch: _Batch | None = None
    ) -> None:
        """Write a comment under its parent, then every reply that was waiting for it.

        Only the batch's own comments are remembered by key; a reply released here is
        found in the site, once written, by whatever comes later."""
        placed = self._row(incoming, parent)
        if batch is not None:
            batch.placed[incoming.source_key] = placed
        waiting = [(child, placed) for child in reversed(self.parked.take(incoming.source_key))]
        while waiting:  # a loop, not recursion: a chain of replies may be the whole file
            child, parent = waiting.pop()
            placed = self._row(child, parent)
            waiting.extend(
                (grandchild, placed) for grandchild in reversed(self.parked.take(child.source_key))
            )

    def _row(self, incoming: IncomingComment, parent: Placed | None) -> Placed:
        thread_id = self.threads.id_of(incoming.article)
        if parent is not None and parent.thread_id != thread_id:
            self.adjusted["reply to another article's comment: made top-level"] += 1
            parent = None
        comment_id = self.ids.next()
        if parent is None:
            placed = Placed(comment_id, thread_id, 1, comment_id, None)
        elif parent.depth >= MAX_DEPTH and parent.parent_id is not None:
            # Ranklet's rule: a reply to a level-5 comment lands beside it, at level 5.
            self.adjusted[
                f"reply nested deeper than {MAX_DEPTH} levels: kept at level {MAX_DEPTH}"
            ] += 1
            placed = Placed(comment_id, thread_id, parent.depth, parent.root_id, parent.parent_id)
        else:
            placed = Placed(comment_id, thread_id, parent.depth + 1, parent.root_id, parent.id)
        self.rows.append(comment_row(incoming, placed, self.site.id))
        assert incoming.prepared is not None
        self.adjusted.update(incoming.prepared[-1])
        self.touched.add(thread_id)
        self.summary.imported[incoming.status] += 1
        if len(self.rows) >= BATCH_ROWS:
            self._flush()
        return placed

    def _place_the_rest(self) -> None:
        """Once the file is read: a reply whose parent never came is made top-level; what
        waits then is a cycle of replies, cut where a walk from its oldest comment closes."""
        while unanswered := self.parked.unanswered(BATCH_ROWS):
            for comment in unanswered:
                for orphan in self.parked.take(comment.parent_key or ""):
                    self.adjusted[_MISSING] += 1
                    self._place(orphan, None)
        while (start := self.parked.first()) is not None:
            chain: list[IncomingComment] = []
            on_chain: set[str] = set()
            current: IncomingComment | None = start
            while current is not None and current.source_key not in on_chain:
                chain.append(current)
                on_chain.add(current.source_key)
                current = self.parked.get(current.parent_key)
            self.parked.pop(chain[-1].source_key)
            self.adjusted[
                "reply in a parent cycle: made top-level" if current is not None else _MISSING
            ] += 1
            self._place(chain[-1], None)
        self._flush()

    def _flush(self) -> None:
        """One multi-row INSERT, in order: a parent is always written before its replies."""
        if self.rows:
            db.session.execute(insert(Comment.__table__), self.rows)
            self.rows = []

    # after the comments

    def _mark_authors(self) -> None:
        for chunk in _chunks(self.author_keys):
            db.session.execute(
                update(Comment)
                .where(
                    Comment.site_id == self.site.id,
                    Comment.source_key.in_(chunk),
                    Comment.id >= self.first_id,  # only what this import wrote
                )
                .values(is_author=True)
                .execution_options(synchronize_session=False)
            )

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

    def _report_progress(self, *, done: bool = False) -> None:
        position = self.source.size if done else self.source.position()
        if position > self.reported:
            self.progress(position - self.reported)
            self.reported = position


def apply_import(
    site: Site,
    source: ImportSource,
    progress: Callable[[int], None] | None = None,
    *,
    dry_run: bool = False,
) -> ImportSummary:
    """Write a source in one transaction: everything, or on any error nothing.

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
        # First: the site's row before any thread's, the order every comment write keeps
        # (count_change), so an import and a reader's post cannot deadlock on PostgreSQL.
        site_comments_changed(site_id)
        summary = _Writer(target, source, progress).run()
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
        close = getattr(source.items, "close", None)
        if close is not None:
            close()  # a reader's file or database connection, even after an error
