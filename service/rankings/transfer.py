"""Rank history in and out: ``ranklet rank import`` and ``ranklet rank export``.

The file is what authors keep in a spreadsheet: CSV with the header
``category,position,observed_at``, or the JSON that ``rank export`` writes::

    {"format": "ranklet-rank-history", "version": 1, "site": "myblog",
     "entries": [{"category": "consulting", "position": 4,
                  "observed_at": "2024-01-01T00:00:00Z"}, ...]}

An import is one transaction: every row is checked first, and one bad row refuses the
whole file with its line number (nothing written). It is idempotent on
``(category, observed_at)``: a row already stored is left alone, one with another position
replaces it (as a second API call would). Its new bests are one batch: at most one
``ranking.best`` per category.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.core.extensions import db
from service.core.schema_fields import FUTURE_TOLERANCE
from service.core.text_rules import MAX_POSITION
from service.db.models import Category, RankEntry, Site
from service.db.types import utcnow
from service.http.caching import bump_site
from service.rankings import history as ranking

FORMAT = "ranklet-rank-history"
VERSION = 1
COLUMNS = ("category", "position", "observed_at")
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_REPORTED = 20
POSITION_RULE = f"position must be a whole number from 1 to {MAX_POSITION:,}"
# RFC 3339 (a space for the T, as spreadsheets write it, is allowed too).
TIME_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?)(?P<zone>[Zz]|[+-]\d\d:\d\d)?$"
)


class RankImportRefused(ValueError):
    """The file cannot be imported; ``problems`` are the lines to fix (nothing was written)."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")
        super().__init__(text)
        self.problems = problems


@dataclass(frozen=True)
class RankRow:
    where: str  # "line 12" (CSV) or "entry 12" (JSON), for messages
    category: str
    position: int
    observed_at: datetime


@dataclass
class RankImportSummary:
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    dry_run: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = "Would import" if self.dry_run else "Imported"
        out = [
            f"{head} {self.rows} rows: {self.new} new, {self.changed} changed (another "
            f"position at the same time), {self.unchanged} already there."
        ]
        for event in self.events:
            if event["event"] != "ranking.best":
                continue
            previous = event["previous_best"]
            before = f"previous best {previous['position']}" if previous else "first entry"
            out.append(f"New best in {event['category']['key']}: {event['position']} ({before}).")
        if self.dry_run:
            out.append("Dry run: nothing was written.")
        return out


# --- reading ------------------------------------------------------------------------------


def read_rank_file(path: str) -> list[RankRow]:
    """Rows of a CSV or JSON rank history file, every one checked; else RankImportRefused."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise RankImportRefused([f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RankImportRefused([f"line {line}: not UTF-8 text"]) from None
    if text.lstrip().startswith("{"):
        return parse_json(text)
    return parse_csv(text)


def parse_csv(text: str) -> list[RankRow]:
    problems: list[str] = []
    if "\x00" in text:
        for number, line in enumerate(text.splitlines(), 1):
            if "\x00" in line:
                problems.append(f"line {number}: contains a NUL character")
        raise RankImportRefused(problems)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise RankImportRefused([f"line 1: {error}"]) from None
    names = [name.strip().lower() for name in header or []]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise RankImportRefused(
            [
                f"line 1: the header must name the columns {','.join(COLUMNS)} (missing: "
                f"{', '.join(missing)})"
            ]
        )
    index = {name: names.index(name) for name in COLUMNS}
    rows: list[RankRow] = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(f"line {reader.line_num}: {error}")
            break
        where = f"line {reader.line_num}"
        if not any(cell.strip() for cell in record):
            continue  # blank lines, as spreadsheets leave at the end
        if len(record) > len(names):
            problems.append(f"{where}: {len(record)} fields, but the header has {len(names)}")
            continue
        record += [""] * (len(names) - len(record))
        values = {name: record[i].strip() for name, i in index.items()}
        row = _checked(
            where,
            values["category"],
            _whole_number(values["position"]),
            values["observed_at"],
            problems,
        )
        if row is not None:
            rows.append(row)
    return _without_duplicates(rows, problems)


def parse_json(text: str) -> list[RankRow]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise RankImportRefused([f"not valid JSON: {error}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise RankImportRefused(
            [
                f'not a `ranklet rank export` file: expected {{"format": "{FORMAT}", "entries": '
                "[...]}"
            ]
        )
    if document.get("format", FORMAT) != FORMAT or document.get("version", VERSION) != VERSION:
        raise RankImportRefused(
            [f"unsupported format {document.get('format')!r} version {document.get('version')!r}"]
        )
    problems: list[str] = []
    rows: list[RankRow] = []
    for number, entry in enumerate(document["entries"], 1):
        where = f"entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        position = entry.get("position")
        if isinstance(position, bool) or not isinstance(position, int):
            position = None
        category, at = entry.get("category"), entry.get("observed_at")
        row = _checked(
            where,
            category if isinstance(category, str) else "",
            position,
            at if isinstance(at, str) else "",
            problems,
        )
        if row is not None:
            rows.append(row)
    return _without_duplicates(rows, problems)


def _whole_number(text: str) -> int | None:
    # Never int() on a long text: a 10,000-digit number would be a ValueError (or slow).
    if text.isascii() and text.isdigit() and len(text) <= 7:
        return int(text)
    return None


def _checked(
    where: str, category: str, position: int | None, at_text: str, problems: list[str]
) -> RankRow | None:
    before = len(problems)
    if not ranking.CATEGORY_KEY.fullmatch(category):
        problems.append(f"{where}: category must be a category key like consulting")
    if position is None or not 1 <= position <= MAX_POSITION:
        problems.append(f"{where}: {POSITION_RULE}")
    at = _parse_time(where, at_text, problems)
    if len(problems) > before or at is None or position is None:
        return None
    return RankRow(where, category, position, at)


def _parse_time(where: str, text: str, problems: list[str]) -> datetime | None:
    shown = text if len(text) <= 40 else text[:40] + "…"
    match = TIME_RE.fullmatch(text)
    if match is None:
        problems.append(
            f"{where}: observed_at {shown!r} is not a time like 2024-01-31T09:00:00+09:00"
        )
        return None
    if match["zone"] is None:
        problems.append(f"{where}: observed_at {shown!r} has no zone: add a zone, e.g. +09:00")
        return None
    try:
        at = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T")).astimezone(UTC)
    except (ValueError, OverflowError):
        problems.append(f"{where}: observed_at {shown!r} is not a valid time")
        return None
    if at > utcnow() + FUTURE_TOLERANCE:
        problems.append(f"{where}: observed_at {shown!r} is in the future")
        return None
    return at


def _without_duplicates(rows: list[RankRow], problems: list[str]) -> list[RankRow]:
    first: dict[tuple[str, datetime], RankRow] = {}
    for row in rows:
        earlier = first.setdefault((row.category, row.observed_at), row)
        if earlier is not row:
            problems.append(
                f"{row.where}: {row.category} at {_utc_text(row.observed_at)} is on "
                f"{earlier.where} already"
            )
    if problems:
        raise RankImportRefused(problems)
    return rows


# --- importing ----------------------------------------------------------------------------


def import_rank_history(
    site: Site, rows: list[RankRow], dry_run: bool = False
) -> RankImportSummary:
    """Store the rows in one transaction (or, with ``dry_run``, only count them)."""
    categories = {c.key: c for c in site.categories}
    unknown = [row for row in rows if row.category not in categories]
    if unknown:
        keys = ", ".join(categories) or "none"
        raise RankImportRefused(
            [
                f"{row.where}: unknown category {row.category!r}; create it first with "
                f"PUT /api/v1/sites/{site.slug}/categories/{row.category} "
                f"(this site has: {keys})"
                for row in unknown
            ]
        )
    stored = _stored_positions([c.id for c in categories.values()])
    summary = RankImportSummary(rows=len(rows), dry_run=dry_run)
    writes = []
    for row in rows:
        key = (categories[row.category].id, row.observed_at)
        known = stored.get(key)
        if known == row.position:
            summary.unchanged += 1
            continue
        if known is None:
            summary.new += 1
        else:
            summary.changed += 1
        writes.append(
            {"category_id": key[0], "position": row.position, "observed_at": row.observed_at}
        )
    if not writes:
        db.session.rollback()
        return summary
    summary.events = ranking.announce_batch(site, writes, ranking.store_entries)
    if dry_run:
        db.session.rollback()
        return summary
    bump_site(site.id)
    db.session.commit()
    return summary


def _stored_positions(category_ids: list[int]) -> dict[tuple[int, datetime], int]:
    return {
        (category_id, at): position
        for category_id, at, position in db.session.execute(
            select(RankEntry.category_id, RankEntry.observed_at, RankEntry.position).where(
                RankEntry.category_id.in_(category_ids)
            )
        )
    }


# --- exporting ----------------------------------------------------------------------------


def _history_rows(site: Site) -> list[tuple[str, int, datetime]]:
    return [
        (key, position, at)
        for key, position, at in db.session.execute(
            select(Category.key, RankEntry.position, RankEntry.observed_at)
            .join(Category, Category.id == RankEntry.category_id)
            .where(Category.site_id == site.id)
            .order_by(Category.order, Category.id, RankEntry.observed_at)
        )
    ]


def export_rank_history(site: Site) -> dict[str, Any]:
    """The JSON export: every entry, by category in the site's order, oldest first."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "site": site.slug,
        "entries": [
            {"category": key, "position": position, "observed_at": _utc_text(at)}
            for key, position, at in _history_rows(site)
        ],
    }


def export_rank_json(site: Site) -> str:
    return json.dumps(export_rank_history(site), ensure_ascii=False, indent=1) + "\n"


def export_rank_csv(site: Site) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows((key, position, _utc_text(at)) for key, position, at in _history_rows(site))
    return out.getvalue()


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
