"""Reading a Ranklet export (``ranklet import json``) one thread at a time.

``json.load`` would hold the whole file, and then every comment a second time as import
items. Here the file is read twice, one JSON value at a time, with ``json``'s own decoder
doing each value: the first pass checks that the whole file is JSON and reads everything
but the threads (format, version, site, categories), so a file that is not an export is
refused before anything is written; the second pass decodes one element of ``threads``
at a time, checks it and hands its comments on. Memory grows with the largest thread,
not with the file. A thread that breaks the rules is refused when it is reached, and the
import's one transaction then writes nothing.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from marshmallow import ValidationError

from service.transfer.document import FORMAT, VERSION, ExportHeader, ThreadDoc
from service.transfer.items import (
    ImportRefused,
    ImportSource,
    IncomingCategory,
    IncomingComment,
    IncomingEntry,
    IncomingThread,
    Item,
)

CHUNK = 1 << 20  # bytes read at a time
_NOT_SPACE = re.compile(r"[^ \t\n\r]")
_NEAR_END = 8  # a decoding error this close to the end of what is read may be a cut value
_THREAD = ThreadDoc()  # one schema for every thread: building one per thread costs more


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(value: Any) -> bool:
    """Whether every string in ``value`` can be stored (half a surrogate pair cannot)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


class _Scanner:
    """One JSON text, read a value at a time; the structure around the values is walked
    here, with ``json``'s messages (and line and column) for what is not JSON."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        self.handle, self.path = handle, path
        self.decode = codecs.getincrementaldecoder("utf-8-sig")().decode  # a BOM is fine
        self.decoder = json.JSONDecoder()
        self.text, self.at, self.eof = "", 0, False
        self.dropped = self.lines = self.column = 0  # what went before ``text``
        self.bytes_read = 0

    def _more(self) -> bool:
        """Read on (dropping what has been consumed); False at the end of the file."""
        if self.eof:
            return False
        gone = self.text[: self.at]
        if newlines := gone.count("\n"):
            self.lines += newlines
            self.column = len(gone) - gone.rfind("\n") - 1
        else:
            self.column += len(gone)
        self.dropped += len(gone)
        self.text, self.at = self.text[self.at :], 0
        data = self.handle.read(max(CHUNK, len(self.text)))
        self.bytes_read += len(data)
        if not data:
            self.eof = True
        self.text += self.decode(data, final=not data)
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end), not consumed."""
        while True:
            found = _NOT_SPACE.search(self.text, self.at)
            if found:
                self.at = found.start()
                return found.group()
            self.at = len(self.text)
            if not self._more():
                return ""

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.at)
            except json.JSONDecodeError as error:
                maybe_cut = error.msg.startswith("Unterminated string") or (
                    error.pos >= len(self.text) - _NEAR_END
                )
                if maybe_cut and self._more():
                    continue
                raise self._refusal(error.msg, error.pos) from None
            except RecursionError:
                raise ImportRefused(
                    f"{self.path} nests arrays or objects too deeply for an export"
                ) from None
            except ValueError as error:  # an integer of thousands of digits
                raise ImportRefused(
                    f"{self.path} holds a number Ranklet cannot read ({error})"
                ) from None
            if end == len(self.text) and self._more():
                continue  # a number at the end of what is read may go on
            if _SURROGATE_ESCAPE.search(self.text, self.at, end) and not _encodable(value):
                raise ImportRefused(
                    f"{self.path} holds an unpaired surrogate escape (such as \\ud800)"
                )
            self.at = end
            return value

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here; the caller reads each one's value."""
        self.at += 1  # the "{" that peek() showed
        if self.peek() == "}":
            self.at += 1
            return
        while True:
            if self.peek() != '"':
                raise self._refusal("Expecting property name enclosed in double quotes")
            key = self.value()
            if self.peek() != ":":
                raise self._refusal("Expecting ':' delimiter")
            self.at += 1
            yield key
            separator = self.peek()
            self.at += 1
            if separator == "}":
                return
            if separator != ",":
                self.at -= 1
                raise self._refusal("Expecting ',' delimiter")

    def elements(self) -> Iterator[None]:
        """Once per element of the array that starts here; the caller reads each one."""
        self.at += 1  # the "["
        if self.peek() == "]":
            self.at += 1
            return
        while True:
            yield
            separator = self.peek()
            self.at += 1
            if separator == "]":
                return
            if separator != ",":
                self.at -= 1
                raise self._refusal("Expecting ',' delimiter")

    def end(self) -> None:
        if self.peek():
            raise self._refusal("Extra data")

    def _refusal(self, message: str, at: int | None = None) -> ImportRefused:
        at = self.at if at is None else at
        before = self.text[:at]
        newlines = before.count("\n")
        column = at - before.rfind("\n") if newlines else self.column + at + 1
        where = f"line {self.lines + newlines + 1} column {column} (char {self.dropped + at})"
        return ImportRefused(f"{self.path} is not JSON ({message}: {where})")


def _not_utf8(path: str) -> ImportRefused:
    return ImportRefused(f"{path} is not UTF-8 text, so not a Ranklet export")


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


def _invalid(path: str, error: ValidationError, prefix: str = "") -> ImportRefused:
    problems = list(_first_errors(error.messages, prefix))
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return ImportRefused(f"{path} is not a valid Ranklet export: {'; '.join(problems[:5])}{more}")


def _read_header(path: str) -> dict[str, Any]:
    """Everything but the threads, after checking that the whole file is JSON."""
    header: dict[str, Any] = {}
    with open(path, "rb") as handle:
        scan = _Scanner(handle, path)
        if scan.peek() != "{":
            scan.value()  # what is not JSON is refused as such, with json's message
            scan.end()
            header["format"] = None
        else:
            lists = 0
            for key in scan.members():
                if key == "threads" and scan.peek() == "[":
                    lists += 1
                    for _ in scan.elements():
                        scan.value()  # checked as JSON now, read again as a thread later
                else:
                    header[key] = scan.value()
            scan.end()
            if lists > 1:
                raise ImportRefused(f'{path} has more than one "threads" list')
    return header


class _JsonReader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.scan: _Scanner | None = None

    def open(self) -> ImportSource:
        path = self.path
        try:
            raw = _read_header(path)
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        if raw.get("format") != FORMAT:
            raise ImportRefused(f'{path} is not a Ranklet export (no "format": "{FORMAT}")')
        if raw.get("version") != VERSION:
            raise ImportRefused(
                f"{path} is export version {raw.get('version')!r}; this Ranklet reads version "
                f"{VERSION} (upgrade Ranklet to import files from a newer one)"
            )
        try:
            header = ExportHeader().load(raw)
        except ValidationError as error:
            raise _invalid(path, error) from None
        source = ImportSource(
            source="JSON",
            items=self._items(),
            size=os.path.getsize(path),
            position=lambda: self.scan.bytes_read if self.scan else 0,
            origin_slug=header["site"]["slug"],
        )
        for category in header["categories"]:
            source.categories.append(
                IncomingCategory(
                    key=category["key"],
                    labels=category["labels"],
                    url=category["url"],
                    order=category["order"],
                    history=[IncomingEntry(**entry) for entry in category["history"]],
                )
            )
        source.remarks.append(
            "Site settings in the file (name, origins, moderation, notification addresses) "
            "were not applied; change them with `ranklet site update` if you want them."
        )
        return source

    def _items(self) -> Iterator[Item]:
        try:
            with open(self.path, "rb") as handle:
                self.scan = scan = _Scanner(handle, self.path)
                scan.peek()
                for key in scan.members():
                    if key != "threads" or scan.peek() != "[":
                        scan.value()  # read and checked in the first pass
                        continue
                    for index, _ in enumerate(scan.elements()):
                        try:
                            thread = _THREAD.load(scan.value())
                        except ValidationError as error:
                            raise _invalid(self.path, error, f"threads.{index}.") from None
                        yield from _thread_items(thread)
        except UnicodeDecodeError:  # the file changed since the first pass
            raise _not_utf8(self.path) from None


def _thread_items(thread: dict[str, Any]) -> Iterator[Item]:
    """A thread and its comments; a reply names its parent by the export's comment id, and
    that parent is in the same thread (or, in a data-subject export, maybe not in the file:
    the reply is then top-level)."""
    yield IncomingThread(thread["article"], thread["title"], thread["url"])
    keys: dict[int, str] = {}
    for comment in thread["comments"]:
        keys.setdefault(comment["id"], comment["source"] or f"json:{comment['id']}")
    for comment in thread["comments"]:
        parent_id = comment["parent_id"]
        yield IncomingComment(
            source_key=comment["source"] or f"json:{comment['id']}",
            article=thread["article"],
            created_at=comment["created_at"],
            status=comment["status"],
            parent_key=None if parent_id is None else keys.get(parent_id, f"json:{parent_id}"),
            author=comment["author"],
            email=comment["email"],
            website=comment["website"],
            body_text=comment["body"] or "",
            body_html=comment["body_html"],
            is_author=comment["is_author"],
            notify=comment["notify"],
            likes=comment["likes"],
            edited_at=comment["edited_at"],
            pinned_at=comment["pinned_at"],
            original_id=comment["id"],
        )


def read_json(path: str) -> ImportSource:
    """Open and check a Ranklet export; refuse anything but format 1 of ``ranklet-export``."""
    return _JsonReader(path).open()
