"""Reading other comment systems' data: an Isso SQLite database and a Disqus XML export.

Each reader parses and checks the whole file into an ``ImportBatch`` and refuses a
malformed one before anything is written; ``transfer.apply_batch`` then writes it in one
transaction. What would break a reader's privacy is left behind on purpose: IP addresses,
Isso's voter lists (a Bloom filter of IPs) and Disqus's ``ipAddress``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml import ElementTree as SafeElementTree

from service.transfer import ImportBatch, ImportRefused, IncomingComment, IncomingThread

# --- Isso ---------------------------------------------------------------------------------

ISSO_MODES = {1: "approved", 2: "pending", 4: "deleted"}  # isso/db/comments.py
_ISSO_REQUIRED = {
    "threads": {"id", "uri", "title"},
    "comments": {"tid", "id", "parent", "created", "mode", "text", "author", "email"},
}
# Optional columns (added over Isso's versions) and what a missing one means.
_ISSO_OPTIONAL = {"modified": "NULL", "website": "NULL", "likes": "0", "notification": "0"}


def _isso_rows(connection: sqlite3.Connection, path: str) -> tuple[list[Any], list[Any]]:
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
    threads = connection.execute("SELECT id, uri, title FROM threads ORDER BY id").fetchall()
    # remote_addr and voters are never read: they identify readers' machines.
    comments = connection.execute(
        "SELECT id, tid, parent, created, mode, text, author, email, "  # noqa: S608
        + optional
        + " FROM comments ORDER BY id"
    ).fetchall()
    return threads, comments


def _unix_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def read_isso(path: str) -> ImportBatch:
    """An Isso database (threads, comments, replies, likes, modes), opened read-only."""
    try:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as connection:
            threads, comments = _isso_rows(connection, path)
    except sqlite3.DatabaseError as error:
        raise ImportRefused(f"{path} is not an SQLite database ({error})") from None
    batch = ImportBatch(source="Isso")
    batch.remarks.append(
        "Not imported, on purpose: IP addresses, Isso's voter lists and dislikes. "
        "Isso bodies are Markdown and were rendered by Ranklet's rules (raw HTML shows as text)."
    )
    articles: dict[int, str] = {}
    used: set[int] = set()
    for thread_id, uri, _title in threads:
        if isinstance(uri, str) and uri:
            articles[thread_id] = uri
    for comment_id, tid, parent, created, mode, text, author, email, *rest in comments:
        modified, website, likes, notification = rest
        if tid not in articles:
            batch.skipped["its thread is not in the database"] += 1
            continue
        created_at = _unix_time(created)
        if created_at is None:
            batch.skipped["no valid creation time"] += 1
            continue
        status = ISSO_MODES.get(mode)
        if status is None:
            status = "pending"
            batch.adjusted[f"unknown Isso mode {mode!r}: held as pending"] += 1
        used.add(tid)
        batch.comments.append(
            IncomingComment(
                source_key=f"isso:{comment_id}",
                article=articles[tid],
                created_at=created_at,
                status=status,
                parent_key=f"isso:{parent}" if parent is not None else None,
                author=author if isinstance(author, str) else None,
                email=email if isinstance(email, str) else None,
                website=website if isinstance(website, str) else None,
                body_text=text if isinstance(text, str) else "",
                notify=bool(notification),
                likes=likes if isinstance(likes, int) and 0 <= likes < 2**31 else 0,
                edited_at=_unix_time(modified) if modified is not None else None,
            )
        )
    batch.threads = [
        IncomingThread(uri, title if isinstance(title, str) else None)
        for thread_id, uri, title in threads
        if thread_id in used
    ]
    return batch


# --- Disqus -------------------------------------------------------------------------------

DISQUS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
# What a browser's location.pathname leaves as it is; everything else is percent-encoded,
# so a Japanese path in the export matches the key the embed sends.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _parse_disqus(path: str) -> Element:
    try:
        root = SafeElementTree.parse(path, forbid_dtd=True).getroot()
    except defusedxml.DTDForbidden:
        raise ImportRefused(
            f"{path} declares a DTD (<!DOCTYPE ...>); Disqus exports never do, and DTDs "
            "carry entity-expansion ('billion laughs') and external-entity attacks, so "
            "the file is refused"
        ) from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise ImportRefused(
            f"{path} declares XML entities or external references; Disqus exports never "
            "do, so the file is refused"
        ) from None
    except (ParseError, LookupError) as error:  # LookupError: an unknown encoding
        raise ImportRefused(f"{path} is not valid XML ({error})") from None
    if root.tag not in (f"{DISQUS}disqus", "disqus"):
        raise ImportRefused(
            f"{path} is not a Disqus export: its root element is <{root.tag}>, not <disqus>"
        )
    return root


def _text(element: Element, name: str, ns: str) -> str:
    return (element.findtext(ns + name) or "").strip()


def _flag(element: Element, name: str, ns: str) -> bool:
    return _text(element, name, ns).lower() == "true"


def _reference(element: Element, name: str, ns: str) -> str | None:
    child = element.find(ns + name)
    return child.get(DSQ_ID) if child is not None else None


def _disqus_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def article_from_link(link: str) -> str:
    """The article key the embed would send for this page: its path, as the browser has it."""
    return quote(urlparse(link).path or "/", safe=_PATH_SAFE)


def read_disqus(path: str) -> ImportBatch:
    """A Disqus XML export: threads, posts, parents, deleted and spam flags."""
    root = _parse_disqus(path)
    ns = DISQUS if root.tag.startswith(DISQUS) else ""
    batch = ImportBatch(source="Disqus")
    batch.remarks.append(
        "Not imported, on purpose: IP addresses. Disqus bodies are HTML and were sanitized "
        "by Ranklet's allowlist (scripts, images and unsafe links removed)."
    )
    threads: dict[str, IncomingThread] = {}
    for element in root.findall(ns + "thread"):
        thread_id = element.get(DSQ_ID)
        link = _text(element, "link", ns)
        if thread_id and link:
            threads[thread_id] = IncomingThread(
                article_from_link(link),
                _text(element, "title", ns) or None,
                link if link.startswith(("http://", "https://")) else None,
            )
    used: dict[str, IncomingThread] = {}
    seen: set[str] = set()
    for element in root.findall(ns + "post"):
        post_id = element.get(DSQ_ID)
        if not post_id:
            batch.skipped["post without dsq:id"] += 1
            continue
        if post_id in seen:
            batch.skipped["appears twice in the file"] += 1
            continue
        seen.add(post_id)
        thread = threads.get(_reference(element, "thread", ns) or "")
        if thread is None:
            batch.skipped["its thread is not in the file (or has no link)"] += 1
            continue
        created_at = _disqus_time(_text(element, "createdAt", ns))
        if created_at is None:
            batch.skipped["no valid createdAt"] += 1
            continue
        if _flag(element, "isDeleted", ns):
            status = "deleted"
        elif _flag(element, "isSpam", ns):
            status = "spam"
        else:
            status = "approved"
        author = element.find(ns + "author")
        if author is None:
            author = Element("author")
        parent = _reference(element, "parent", ns)
        used.setdefault(thread.article, thread)
        batch.comments.append(
            IncomingComment(
                source_key=f"disqus:{post_id}",
                article=thread.article,
                created_at=created_at,
                status=status,
                parent_key=f"disqus:{parent}" if parent else None,
                author=_text(author, "name", ns) or None,
                email=_text(author, "email", ns) or None,
                body_html=element.findtext(ns + "message") or "",
            )
        )
    batch.threads = list(used.values())
    return batch
