"""What an import brings, and what it says when it is done.

A reader (``transfer_json``, ``transfer_isso``, ``transfer_disqus``, ``transfer_wordpress``)
opens a file and returns an ``ImportSource``: what could be checked up front has been,
and its ``items`` are read only as the writer (``transfer_pipeline``) asks for them, so no
list of the file's comments is ever built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.db.models import COMMENT_STATUSES


class ImportRefused(ValueError):
    """The file cannot be imported; the message says why. Nothing has been written."""


@dataclass
class IncomingThread:
    """A thread the file names; a reader yields it before the first comment on it."""

    article: str
    title: str | None = None
    url: str | None = None


@dataclass
class IncomingComment:
    source_key: str  # where it came from ("isso:7"), unique per site: imports stay idempotent
    article: str
    created_at: datetime
    status: str
    parent_key: str | None = None  # the parent's source_key
    author: str | None = None
    email: str | None = None
    website: str | None = None
    body_text: str = ""  # Markdown source, rendered on import
    body_html: str = ""  # foreign HTML, sanitized on import when there is no source
    is_author: bool = False
    notify: bool = False
    likes: int = 0
    edited_at: datetime | None = None
    pinned_at: datetime | None = None  # kept on a top-level comment only
    original_id: int | None = None  # the comment's id in the exporting site (JSON only)
    # The writer's: the row's fields that do not depend on the tree (transfer_rows.prepare).
    prepared: tuple[Any, ...] | None = None


@dataclass
class AuthorComments:
    """Comments (by source key) that turn out to be the blog author's only once the whole
    file is read, as when a WordPress post comes after its author's comments."""

    source_keys: list[str]


Item = IncomingThread | IncomingComment | AuthorComments


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def foreign_comment(
    system: str,
    comment_id: object,
    parent_id: object | None,
    *,
    article: str,
    created_at: datetime,
    status: str,
    author: Any = None,
    email: Any = None,
    website: Any = None,
    body_text: Any = "",
    body_html: Any = "",
    **more: Any,
) -> IncomingComment:
    """A comment from another system: its ids become source keys (``isso:7``, with the
    parent's as ``isso:3``), and a name, address, website or body is kept only when it is
    a string with something in it, whatever the other system stored there."""
    return IncomingComment(
        source_key=f"{system}:{comment_id}",
        parent_key=f"{system}:{parent_id}" if parent_id is not None else None,
        article=article,
        created_at=created_at,
        status=status,
        author=_optional_text(author),
        email=_optional_text(email),
        website=_optional_text(website),
        body_text=body_text if isinstance(body_text, str) else "",
        body_html=body_html if isinstance(body_html, str) else "",
        **more,
    )


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


def _nothing_read() -> int:
    return 0


@dataclass
class ImportSource:
    """An opened, checked file whose items are read as they are written.

    ``skipped``, ``adjusted`` and ``remarks`` fill up while the items are read; a problem
    found part way raises ``ImportRefused`` from ``items``, and the writer's transaction
    then leaves nothing behind."""

    source: str  # "JSON", "Isso", "Disqus", "WordPress", for the summary
    items: Iterator[Item]
    size: int = 0  # progress units in all: bytes of the file, or rows
    position: Callable[[], int] = _nothing_read  # units read so far
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
    categories_unchanged: int = 0
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
        if (
            self.categories_created
            or self.categories_updated
            or self.categories_unchanged
            or self.history_added
            or self.history_present
        ):
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
