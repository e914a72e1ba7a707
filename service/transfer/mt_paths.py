"""Where a Movable Type entry lives on the new site: a permalink template or a map.

An MT export names no address for its entries, so the blogger says where they went:
``--permalink /entry/{basename}`` (Hatena Blog's pattern) fills the entry's ``BASENAME``
and ``DATE`` into a template; ``--map paths.csv`` lists ``title,path`` or ``basename,path``
rows for services whose addresses cannot be derived (FC2's numbered entries, Seesaa's
article ids). The path is handed to the writer as written; the writer's thread lookup
makes it canonical, as for every import.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from service.transfer.items import ImportRefused

PLACEHOLDERS = ("basename", "year", "month", "day", "hour", "minute", "second")
MAX_MAP_ROWS = 1_000_000
MAX_MAP_BYTES = 64 << 20
NAME_LIMIT = 80  # characters of a title shown when an entry is named
_MAP_KEYS = ("title", "basename")


@dataclass
class EntryFacts:
    """What names an entry: enough to find its path and to tell the blogger which it is."""

    title: str = ""
    basename: str = ""
    date: datetime | None = None  # as written in the file, in the blog's own zone
    line: int = 0

    def name(self) -> str:
        label = self.title or self.basename or "(untitled)"
        if len(label) > NAME_LIMIT:
            label = label[:NAME_LIMIT] + "…"
        return f"{label!r} (line {self.line})"


def path_of(address: str) -> str | None:
    """The path of a URL, or the address itself when it is a path already."""
    address = address.strip()
    if address.startswith(("http://", "https://")):
        try:
            return urlsplit(address).path or "/"
        except ValueError:
            return None
    return address if address.startswith("/") else None


class PermalinkTemplate:
    """``/entry/{basename}``, ``/{year}/{month}/{day}/{basename}.html`` and the like."""

    def __init__(self, template: str) -> None:
        try:
            fields = [name for _, name, spec, conv in string.Formatter().parse(template) if name]
        except ValueError as error:
            raise ImportRefused(f"--permalink {template!r} is not a template ({error})") from None
        unknown = sorted(set(fields) - set(PLACEHOLDERS))
        if unknown:
            raise ImportRefused(
                f"--permalink {template!r} names {', '.join('{' + u + '}' for u in unknown)};"
                f" the placeholders are {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        if path_of(template.replace("{", "").replace("}", "")) is None:
            raise ImportRefused(
                f"--permalink {template!r} must be a path starting with / (such as "
                "/entry/{basename}) or a full http(s) URL"
            )
        self.template = template
        self.fields = set(fields)

    def path(self, entry: EntryFacts) -> str | None:
        if "basename" in self.fields and not entry.basename:
            return None
        values: dict[str, str] = {"basename": entry.basename}
        if self.fields - {"basename"}:
            if entry.date is None:
                return None
            moment = entry.date
            values |= {
                "year": f"{moment.year:04d}",
                "month": f"{moment.month:02d}",
                "day": f"{moment.day:02d}",
                "hour": f"{moment.hour:02d}",
                "minute": f"{moment.minute:02d}",
                "second": f"{moment.second:02d}",
            }
        return path_of(self.template.format(**values))


class PathMap:
    """A CSV of ``title,path`` or ``basename,path`` rows, read whole (one row per entry)."""

    def __init__(self, path: str) -> None:
        self.source = path
        self.paths: dict[str, str] = {}
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_MAP_BYTES + 1)
        except OSError as error:
            raise ImportRefused(f"--map {path} cannot be read ({error.strerror})") from None
        if len(data) > MAX_MAP_BYTES:
            raise ImportRefused(f"--map {path} is larger than {MAX_MAP_BYTES >> 20} MiB")
        for encoding in ("utf-8-sig", "cp932"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportRefused(f"--map {path} is not UTF-8 or Shift_JIS text")
        rows = csv.reader(text.splitlines())
        header = [cell.strip().lower() for cell in next(rows, [])]
        if len(header) != 2 or header[0] not in _MAP_KEYS or header[1] != "path":
            raise ImportRefused(
                f"--map {path} must start with the header title,path or basename,path"
            )
        self.key = header[0]
        where: dict[str, int] = {}
        for number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise ImportRefused(f"--map {path}, line {number}: expected 2 columns")
            key, address = row[0].strip(), row[1].strip()
            target = path_of(address)
            if not key or target is None:
                raise ImportRefused(
                    f"--map {path}, line {number}: needs a {self.key} and a path starting "
                    "with / (or a full http(s) URL)"
                )
            if key in self.paths and self.paths[key] != target:
                raise ImportRefused(
                    f"--map {path}, lines {where[key]} and {number}: {self.key} {key!r} "
                    "is given two different paths"
                )
            self.paths[key], where[key] = target, number
            if len(self.paths) > MAX_MAP_ROWS:
                raise ImportRefused(f"--map {path} has more than {MAX_MAP_ROWS:,} rows")

    def path(self, entry: EntryFacts) -> str | None:
        key = entry.title if self.key == "title" else entry.basename
        return self.paths.get(key.strip())
