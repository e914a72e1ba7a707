"""Reading a Movable Type export (Hatena Blog, Cocolog, FC2, JUGEM, Seesaa, Livedoor, MT).

The format, as Movable Type's own importer reads it: entries end at a line of eight
hyphens, an entry's ``KEY: VALUE`` metadata ends at a line of five, and each section
after it starts with a ``NAME:`` line (``BODY``, ``EXTENDED BODY``, ``EXCERPT``,
``KEYWORDS``, ``COMMENT``, ``PING``) and ends at the next line of five hyphens. Keys
this reader has no use for (Hatena's ``IMAGE``, ``CONVERT BREAKS``, custom fields) are
passed over. The file is read a line at a time (``mt_text``) and every comment is handed
on as soon as its section ends, so nothing grows with the file but one small entry per
article (to refuse two entries on one path).

Choices where the contract leaves room:

* A line of five hyphens that is *not* followed by a section name (or a line of eight)
  is text: MT's own importer would cut a comment there and drop the rest, which no
  blogger wants; a comment quoting ``-----`` keeps it.
* A comment has no id in the format, so its ``source_key`` is a hash of its entry (title,
  basename, date), author, date and text: a second run of the same file finds every
  comment again, and two comments that differ in any of those are two comments.
* Entry bodies are never kept: only comments are imported, and a huge body costs no memory.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from service.core.text_rules import canonical_article
from service.transfer.items import (
    ImportRefused,
    ImportSource,
    IncomingComment,
    IncomingThread,
    Item,
)
from service.transfer.mt_paths import EntryFacts, PathMap, PermalinkTemplate
from service.transfer.mt_text import ENCODING_NAMES, MAX_LINE, LineReader, encoding_for
from service.transfer.wordpress import wordpress_paragraphs

ENTRY_END = "--------"
SECTION_END = "-----"
COMMENT_KEYS = frozenset({"AUTHOR", "EMAIL", "URL", "IP", "DATE"})
MT_ENTRY_KEYS = frozenset({"AUTHOR", "TITLE", "BASENAME", "STATUS", "DATE", "PRIMARY CATEGORY"})
MAX_TEXT = 64 * 1024  # characters of comment text kept; longer is refused by the API's limit
NAMES_SHOWN = 20
MAX_KEY = 24  # an upper-case "KEY:" longer than this at a comment's start is text
_KEY_LINE = re.compile(r"([A-Z][A-Z0-9 _]*?):[ \t]*(.*)$")
_SECTION = re.compile(r"([A-Z][A-Z0-9 _]*):\s*$")
_MT_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?"
)
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def _same_thread_key(path: str) -> str:
    """The key two entries' paths are compared by, to refuse two entries on one thread:
    the canonical article key the pipeline's thread lookup applies, so that two spellings
    of one address (``/entry/経営`` and ``/entry/%e7%b5%8c%e5%96%b6``) are refused here too."""
    return canonical_article(path)


def mt_date(value: str) -> datetime | None:
    """``MM/DD/YYYY hh:mm:ss``, 24-hour or with ``AM``/``PM`` (seconds may be missing, as
    some services write them), as a naive time."""
    match = _MT_DATE.fullmatch(value.strip())
    if match is None:
        return None
    month, day, year, hour, minute, second = (int(part or 0) for part in match.groups()[:6])
    half = (match.group(7) or "").upper()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "P" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def link_address(value: str) -> str:
    """``URL: <a href="https://x/">x</a>`` (how some services write it) gives its href."""
    value = value.strip()
    if "<" in value:
        match = _HREF.search(value)
        value = next((g for g in match.groups() if g is not None), "") if match else ""
    return html.unescape(value).strip()


@dataclass
class _Comment:
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    size: int = 0
    in_text: bool = False

    def add(self, line: str) -> None:
        if not self.in_text:
            match = _KEY_LINE.fullmatch(line)
            if match and len(match.group(1)) <= MAX_KEY:
                # AUTHOR, EMAIL, URL, IP, DATE; other keys some services add are passed over
                if match.group(1) in COMMENT_KEYS:
                    self.fields.setdefault(match.group(1), (match.group(2) or "").strip())
                return
            if not line.strip() and not self.text:
                return  # blank lines between the keys and the text
            self.in_text = True
        self.size += len(line) + 1
        if self.size <= MAX_TEXT:
            self.text.append(line)


@dataclass
class _Entry:
    facts: EntryFacts
    status: str = ""
    raw_date: str = ""
    path: str | None = None
    announced: bool = False
    comments: int = 0


class _MtReader:
    """Walks the lines once, handing on a thread before its first comment."""

    def __init__(
        self,
        path: str,
        lines: LineReader,
        paths: PermalinkTemplate | PathMap,
        zone: ZoneInfo,
    ) -> None:
        self.path = path
        self.lines = lines
        self.paths = paths
        self.zone = zone
        self.source = ImportSource(
            source="Movable Type",
            items=self._items(),
            size=lines.size,
            position=lines.position,
        )
        self.by_path: dict[str, str] = {}  # path -> the entry's name, one per entry
        self.unmapped: list[str] = []
        self.unmapped_count = 0
        self.drafts = 0
        self.entries = 0
        self.recognized = False

    # the walk

    def _items(self) -> Iterator[Item]:
        entry: _Entry | None = None
        section: str | None = None  # None: the entry's metadata
        comment: _Comment | None = None
        separator = False  # a line of five hyphens seen; the next line says what it was
        for line in self.lines.lines():
            stripped = line.rstrip()
            if separator:
                separator = False
                header = _SECTION.fullmatch(stripped)
                if stripped == ENTRY_END or header:
                    yield from self._close(entry, comment)
                    comment = None
                    if header:
                        section = header.group(1)
                        comment = self._open_section(section, entry)
                        continue
                elif comment is not None:
                    comment.add(SECTION_END)  # a line of hyphens inside a comment: text
            if entry is None:
                if not stripped or stripped in (ENTRY_END, SECTION_END):
                    continue
                entry, section = _Entry(EntryFacts(line=self.lines.number)), None
            if stripped == ENTRY_END:
                yield from self._close(entry, comment)
                entry, section, comment = None, None, None
            elif stripped == SECTION_END:
                if section is None:
                    self._entry_ready(entry)
                    section = ""  # between sections until a name comes
                separator = True
            elif section is None:
                self._metadata(entry, line)
            elif comment is not None:
                comment.add(line)
        yield from self._close(entry, comment)
        self._finish()

    def _metadata(self, entry: _Entry, line: str) -> None:
        match = _KEY_LINE.fullmatch(line.rstrip())
        if match is None:
            return
        key, value = match.group(1), (match.group(2) or "").strip()
        if key in MT_ENTRY_KEYS:
            self.recognized = True
        facts = entry.facts
        if key == "TITLE" and not facts.title:
            facts.title = value
        elif key == "BASENAME" and not facts.basename:
            facts.basename = value
        elif key == "STATUS" and not entry.status:
            entry.status = value
        elif key == "DATE" and not entry.raw_date:
            entry.raw_date = value
            facts.date = mt_date(value)

    def _entry_ready(self, entry: _Entry) -> None:
        """The metadata is read: the entry's path is known, or it is left out."""
        self.entries += 1
        target = self.paths.path(entry.facts)
        name = entry.facts.name()
        if target is None:
            self.unmapped_count += 1
            if len(self.unmapped) < NAMES_SHOWN:
                self.unmapped.append(name)
            return
        key = _same_thread_key(target)
        if key in self.by_path:
            raise ImportRefused(
                f"two entries map to the path {target}: {self.by_path[key]} and {name}; "
                "give them different paths (in --map, or a --permalink with more placeholders)"
            )
        self.by_path[key] = name
        entry.path = target

    def _open_section(self, name: str, entry: _Entry | None) -> _Comment | None:
        if name in ("BODY", "EXTENDED BODY", "EXCERPT", "KEYWORDS"):
            self.recognized = True
        if name == "PING":
            self.recognized = True
            self.source.skipped["trackback (PING), not a reader comment"] += 1
        if name == "COMMENT" and entry is not None:
            self.recognized = True
            return _Comment(self.lines.number)
        return None

    def _close(self, entry: _Entry | None, comment: _Comment | None) -> Iterator[Item]:
        if entry is None or comment is None:
            return
        if entry.path is None:
            entry.comments += 1
            self.source.skipped["on an entry with no path (see the entries named below)"] += 1
            return
        incoming = self._comment(entry, comment)
        if incoming is None:
            return
        if not entry.announced:
            entry.announced = True
            if entry.status and entry.status.lower() not in ("publish", "published"):
                self.drafts += 1
            yield IncomingThread(entry.path, entry.facts.title or None)
        entry.comments += 1
        yield incoming

    def _comment(self, entry: _Entry, comment: _Comment) -> IncomingComment | None:
        skipped = self.source.skipped
        written = mt_date(comment.fields.get("DATE", ""))
        if written is None:
            skipped["comment without a valid DATE"] += 1
            return None
        created_at = written.replace(tzinfo=self.zone).astimezone(UTC)
        text = "\n".join(comment.text).strip()
        if comment.size > MAX_TEXT:
            text += "\n" + "x" * MAX_TEXT  # over the API's limit: skipped and counted as such
        author = comment.fields.get("AUTHOR", "")
        facts = entry.facts
        identity = "\x00".join(
            (facts.title, facts.basename, entry.raw_date, author, created_at.isoformat(), text)
        )
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return IncomingComment(
            source_key=f"mt:{digest}",
            article=entry.path or "",
            created_at=created_at,
            status="approved",
            author=author or None,
            email=comment.fields.get("EMAIL") or None,
            website=link_address(comment.fields.get("URL", "")) or None,
            body_html=wordpress_paragraphs(text),
        )

    def _finish(self) -> None:
        if not self.recognized:
            raise ImportRefused(
                f"{self.path} is not a Movable Type export: no entry with AUTHOR, TITLE or "
                "DATE lines and BODY or COMMENT sections was found"
            )
        remarks = self.source.remarks
        if self.unmapped_count:
            more = self.unmapped_count - len(self.unmapped)
            remarks.append(
                f"Entries with no path, left out ({self.unmapped_count}): "
                + "; ".join(self.unmapped)
                + (f"; and {more} more" if more else "")
                + ". Add them to --map (or check --permalink) and run the import again."
            )
        if self.drafts:
            remarks.append(
                f"{self.drafts} entries with comments are not published (STATUS Draft or "
                "Future); their comments were filed under the path they would have."
            )
        if self.lines.cut:
            remarks.append(
                f"{self.lines.cut} lines longer than {MAX_LINE:,} characters were cut there "
                "(a comment with one is over the API's limit and was skipped)."
            )
        remarks.append(
            f"Read {self.entries} entries as {ENCODING_NAMES[self.lines.encoding]}, dates in "
            f"{self.zone.key}. Not imported, on purpose: IP addresses and trackbacks (PING)."
        )


def read_movabletype(
    path: str,
    *,
    permalink: str | None = None,
    mapping: str | None = None,
    encoding: str = "auto",
    timezone: str = "UTC",
) -> ImportSource:
    """An MT export, with each entry's path from ``permalink`` or the CSV ``mapping``."""
    if (permalink is None) == (mapping is None):
        raise ImportRefused(
            "give either --permalink TEMPLATE (Hatena Blog: /entry/{basename}) or "
            "--map CSV, so that each entry's comments find their article"
        )
    paths = PermalinkTemplate(permalink) if permalink is not None else PathMap(mapping or "")
    lines = LineReader(path, encoding_for(path, encoding))
    return _MtReader(path, lines, paths, ZoneInfo(timezone)).source
