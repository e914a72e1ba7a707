"""Comments that wait for something the file has not shown yet, by what they wait for.

A reply that comes before its parent waits for the parent's key; a Disqus post that comes
before its thread waits for the thread's id. Usually only a handful wait, so they are
kept in memory; past ``MEMORY_LIMIT`` they go to a private temporary SQLite file, so even
a file in reverse order keeps memory flat.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterable, Iterator

from service.transfer.items import IncomingComment

MEMORY_LIMIT = 2000  # comments kept in memory before they move to the temporary file
_CHUNK = 500  # keys per IN (...) on the temporary file


def _thaw(data: bytes) -> IncomingComment:
    # Only ever what this process pickled into its own private temporary database.
    return pickle.loads(data)  # noqa: S301


def _order(comment: IncomingComment) -> tuple[float, str]:
    return comment.created_at.timestamp(), comment.source_key


class ParkedComments:
    """Comments by the key they wait for, each also found by its own source key."""

    def __init__(self, memory_limit: int | None = None) -> None:
        self.memory_limit = MEMORY_LIMIT if memory_limit is None else memory_limit
        self.waiting: dict[str, list[IncomingComment]] = {}  # key waited for -> comments
        self.keys: dict[str, str] = {}  # source key -> the key it waits for (in memory)
        self.disk: sqlite3.Connection | None = None
        self.on_disk = 0

    def __len__(self) -> int:
        return len(self.keys) + self.on_disk

    def add(self, key: str, comment: IncomingComment) -> None:
        self.waiting.setdefault(key, []).append(comment)
        self.keys[comment.source_key] = key
        if len(self.keys) > self.memory_limit:
            self._spill()

    def take(self, key: str) -> list[IncomingComment]:
        """Every comment waiting for ``key``, no longer parked, in the order they came."""
        found = self.waiting.pop(key, [])
        for comment in found:
            self.keys.pop(comment.source_key, None)
        if self.on_disk:
            assert self.disk is not None
            rows = self.disk.execute(
                "SELECT seq, data FROM parked WHERE key = ? ORDER BY seq", (key,)
            ).fetchall()
            if rows:
                self.disk.execute("DELETE FROM parked WHERE key = ?", (key,))
                self.on_disk -= len(rows)
                found = [_thaw(data) for _seq, data in rows] + found
        return found

    def holding(self, source_keys: Iterable[str]) -> set[str]:
        """Which of these comments are parked here."""
        wanted = list(source_keys)
        held = {key for key in wanted if key in self.keys}
        if self.on_disk:
            assert self.disk is not None
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                held.update(
                    key
                    for (key,) in self.disk.execute(
                        "SELECT source_key FROM parked WHERE source_key IN"  # noqa: S608
                        f" ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                )
        return held

    def get(self, source_key: str | None) -> IncomingComment | None:
        """The parked comment with this source key, left where it is."""
        if source_key is None:
            return None
        self._spill_if_on_disk()
        if self.disk is not None:
            row = self.disk.execute(
                "SELECT data FROM parked WHERE source_key = ?", (source_key,)
            ).fetchone()
            return _thaw(row[0]) if row else None
        key = self.keys.get(source_key)
        if key is None:
            return None
        return next(c for c in self.waiting[key] if c.source_key == source_key)

    def pop(self, source_key: str) -> None:
        """Unpark one comment (the rest waiting for the same key stay)."""
        self._spill_if_on_disk()
        if self.disk is not None:
            deleted = self.disk.execute("DELETE FROM parked WHERE source_key = ?", (source_key,))
            self.on_disk -= deleted.rowcount
            return
        key = self.keys.pop(source_key)
        self.waiting[key] = [c for c in self.waiting[key] if c.source_key != source_key]
        if not self.waiting[key]:
            del self.waiting[key]

    def first(self) -> IncomingComment | None:
        """The oldest parked comment (by creation time, then source key)."""
        self._spill_if_on_disk()
        if self.disk is not None:
            row = self.disk.execute(
                "SELECT data FROM parked ORDER BY created, source_key LIMIT 1"
            ).fetchone()
            return _thaw(row[0]) if row else None
        return min((c for cs in self.waiting.values() for c in cs), key=_order, default=None)

    def unanswered(self, limit: int) -> list[IncomingComment]:
        """Up to ``limit`` of the oldest comments that wait for a key no parked comment has:
        once the file is read, what they wait for will not come."""
        self._spill_if_on_disk()
        if self.disk is not None:
            rows = self.disk.execute(
                "SELECT data FROM parked WHERE key NOT IN (SELECT source_key FROM parked)"
                " ORDER BY created, source_key LIMIT ?",
                (limit,),
            )
            return [_thaw(data) for (data,) in rows]
        found = [c for key, cs in self.waiting.items() if key not in self.keys for c in cs]
        return sorted(found, key=_order)[:limit]

    def drain(self) -> Iterator[IncomingComment]:
        """Every parked comment, oldest first, leaving none."""
        while (comment := self.first()) is not None:
            self.pop(comment.source_key)
            yield comment

    def close(self) -> None:
        if self.disk is not None:
            self.disk.close()  # the temporary file goes with its connection
            self.disk = None
        self.waiting, self.keys, self.on_disk = {}, {}, 0

    def _spill_if_on_disk(self) -> None:
        """Queries over everything parked run on the file once there is one."""
        if self.disk is not None and self.keys:
            self._spill()

    def _spill(self) -> None:
        if self.disk is None:
            # "": a private temporary database on disk, deleted when it is closed.
            self.disk = sqlite3.connect("", isolation_level=None)
            self.disk.executescript(
                "CREATE TABLE parked (seq INTEGER PRIMARY KEY, key TEXT NOT NULL,"
                " source_key TEXT NOT NULL, created REAL NOT NULL, data BLOB NOT NULL);"
                "CREATE INDEX parked_key ON parked (key);"
                "CREATE INDEX parked_source ON parked (source_key);"
                "CREATE INDEX parked_order ON parked (created, source_key);"
            )
        self.disk.executemany(
            "INSERT INTO parked (key, source_key, created, data) VALUES (?, ?, ?, ?)",
            (
                (key, c.source_key, c.created_at.timestamp(), pickle.dumps(c))
                for key, cs in self.waiting.items()
                for c in cs
            ),
        )
        self.on_disk += len(self.keys)
        self.waiting, self.keys = {}, {}
