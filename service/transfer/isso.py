"""Reading an Isso SQLite database (``comments.db``), opened read-only, row by row.

Threads are read first (one small entry each), then the comments in id order as the
writer asks for them. What would break a reader's privacy is left behind on purpose: IP
addresses (``remote_addr``) and Isso's voter lists (a Bloom filter of IPs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.transfer.items import (
    ImportRefused,
    ImportSource,
    IncomingThread,
    Item,
    foreign_comment,
)

ISSO_MODES = {1: "approved", 2: "pending", 4: "deleted"}  # isso/db/comments.py
_ISSO_REQUIRED = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "mode", "text", "author", "email"},
}
# Optional columns (added over Isso's versions) and what a missing one means.
_ISSO_OPTIONAL = {"modified": "NULL", "website": "NULL", "likes": "0", "notification": "0"}


def _comments_query(connection: sqlite3.Connection, path: str) -> str:
    """The SELECT of every comment, after checking that this is an Isso database."""
    tables = {
        name: {row[1] for row in connection.execute(f"PRAGMA table_info({name})")}
        for name in _ISSO_REQUIRED
    }
    for name, needed in _ISSO_REQUIRED.items():
        if not tables[name]:
            raise ImportRefused(f"{path} is not an Isso database: it has no {name!r} table")
        if missing := sorted(needed - tables[name]):
            raise ImportRefused(
                f"{path} is not an Isso database: table {name!r} lacks {', '.join(missing)}"
            )
    optional = ", ".join(
        column if column in tables["comments"] else f"{default} AS {column}"
        for column, default in _ISSO_OPTIONAL.items()
    )
    # remote_addr and voters are never read: they identify readers' machines.
    return (
        "SELECT id, tid, parent, created, mode, text, author, email, "  # noqa: S608
        + optional
        + " FROM comments ORDER BY id"
    )


def _unix_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class _IssoReader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.uri = Path(path).resolve().as_uri() + "?mode=ro"
        self.query = ""
        self.read = 0  # comment rows read

    def open(self) -> ImportSource:
        try:
            with closing(sqlite3.connect(self.uri, uri=True)) as connection:
                self.query = _comments_query(connection, self.path)
                (total,) = connection.execute("SELECT count(*) FROM comments").fetchone()
        except sqlite3.DatabaseError as error:
            raise self._not_sqlite(error) from None
        source = ImportSource(
            source="Isso", items=self._items(), size=total, position=lambda: self.read
        )
        source.remarks.append(
            "Not imported, on purpose: IP addresses, Isso's voter lists and dislikes. Isso "
            "bodies are Markdown and were rendered by Ranklet's rules (raw HTML shows as text)."
        )
        self.source = source
        return source

    def _not_sqlite(self, error: sqlite3.DatabaseError) -> ImportRefused:
        return ImportRefused(f"{self.path} is not an SQLite database ({error})")

    def _items(self) -> Iterator[Item]:
        try:
            with closing(sqlite3.connect(self.uri, uri=True)) as connection:
                threads = {
                    thread_id: IncomingThread(uri, title if isinstance(title, str) else None)
                    for thread_id, uri, title in connection.execute(
                        "SELECT id, uri, title FROM threads ORDER BY id"
                    )
                    if isinstance(uri, str) and uri
                }
                used: set[str] = set()
                for row in connection.execute(self.query):
                    self.read += 1
                    for item in self._comment(row, threads):
                        if isinstance(item, IncomingThread):
                            if item.article in used:
                                continue
                            used.add(item.article)
                        yield item
        except sqlite3.DatabaseError as error:  # a damaged page found part way
            raise self._not_sqlite(error) from None

    def _comment(self, row: tuple[Any, ...], threads: dict[Any, IncomingThread]) -> list[Item]:
        """The comment of one row, after its thread; nothing for a row that is skipped."""
        comment_id, tid, parent, created, mode, text, author, email, *rest = row
        modified, website, likes, notification = rest
        skipped, adjusted = self.source.skipped, self.source.adjusted
        thread = threads.get(tid)
        if thread is None:
            skipped["its thread is not in the database"] += 1
            return []
        created_at = _unix_time(created)
        if created_at is None:
            skipped["no valid creation time"] += 1
            return []
        status = ISSO_MODES.get(mode)
        if status is None:
            status = "pending"
            adjusted[f"unknown Isso mode {mode!r}: held as pending"] += 1
        comment = foreign_comment(
            "isso",
            comment_id,
            parent,
            article=thread.article,
            created_at=created_at,
            status=status,
            author=author,
            email=email,
            website=website,
            body_text=text,
            notify=bool(notification),
            likes=likes if isinstance(likes, int) and 0 <= likes < 2**31 else 0,
            edited_at=_unix_time(modified) if modified is not None else None,
        )
        return [thread, comment]


def read_isso(path: str) -> ImportSource:
    """An Isso database (threads, comments, replies, likes, modes), opened read-only."""
    return _IssoReader(path).open()
