"""``ranklet rank``: record ranking-portal positions; import and export their history."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import click
from flask.cli import with_appcontext
from marshmallow import ValidationError

from service.cli.context import fail, site_or_fail

MAX_POSITION_TEXT = "1,000,000"
AT_EXAMPLE = "2026-12-03T09:00:00+09:00"


@click.group()
def rank() -> None:
    """Record ranking-portal positions; import and export their history."""


@rank.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("slug")
@click.argument("category")
@click.argument("position")
@click.option(
    "--at",
    "at",
    help=f"When it was observed, e.g. {AT_EXAMPLE}; without a zone, in the site's time "
    "zone (default: now).",
)
@with_appcontext
def rank_set(slug: str, category: str, position: str, at: str | None) -> None:
    """Record POSITION (1 = top) for CATEGORY, e.g. `ranklet rank set myblog consulting 4`."""
    from service.rankings import history as ranking
    from service.rankings.schemas import RecordPositions
    from service.sites.local_time import local_text

    # ignore_unknown_options: "-3" reaches us as POSITION, not as "No such option '-3'".
    number = _position_or_fail(position)
    target = site_or_fail(slug)
    raw: dict[str, Any] = {"positions": {category: number}}
    if at:
        raw["observed_at"] = _aware_time_or_fail(at, target)
    try:
        body = RecordPositions().load(raw)
    except ValidationError as error:
        fail(_rank_set_text(error.normalized_messages(), target, category, at))
    try:
        ranking.record_positions(target, body["positions"], body.get("observed_at"))
    except ranking.UnknownCategory:
        keys = ", ".join(c.key for c in target.categories)
        fail(f"unknown category {category!r}; this site has: {keys}")
    standing = next(s for s in ranking.standings(target) if s.category.key == category)
    assert standing.best is not None
    first = local_text(target, standing.best.observed_at)
    click.echo(
        f"{category}: {body['positions'][category]} recorded; best {standing.best.position} "
        f"(first {first})"
    )


@rank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", "slug", required=True, help="The site whose history this is.")
@click.option("--dry-run", is_flag=True, help="Check the file and say what it would do.")
@with_appcontext
def rank_import(file: str, slug: str, dry_run: bool) -> None:
    """Import rank history: CSV `category,position,observed_at` or a `rank export` JSON.

    All or nothing; rows already there are skipped, so it may be run again.
    """
    from service.rankings.transfer import RankImportRefused, import_rank_history, read_rank_file

    target = site_or_fail(slug)
    try:
        summary = import_rank_history(target, read_rank_file(file), dry_run=dry_run)
    except RankImportRefused as error:
        fail(f"{error}\nNothing was imported.")
    for line in summary.lines():
        click.echo(line)


@rank.command("export")
@click.argument("slug")
@click.option("--csv", "as_csv", is_flag=True, help="CSV `category,position,observed_at`.")
@with_appcontext
def rank_export(slug: str, as_csv: bool) -> None:
    """Write a site's whole rank history to stdout (JSON by default), for `rank import`."""
    from service.rankings.transfer import export_rank_csv, export_rank_json

    target = site_or_fail(slug)
    click.echo(export_rank_csv(target) if as_csv else export_rank_json(target), nl=False)


def _position_or_fail(text: str) -> int:
    """A rank as people write it: 1 is the top; commas and a leading "#" are fine."""
    from service.core.text_rules import MAX_POSITION

    # Fullwidth digits become ASCII (as on the admin page); any other script's digits,
    # which int() would take ("٣" is 3), do not name a position.
    cleaned = unicodedata.normalize("NFKC", text).strip().lstrip("#")
    cleaned = cleaned.replace(",", "").replace("_", "")
    number = int(cleaned) if re.fullmatch(r"-?[0-9]{1,40}", cleaned) else None
    if number is None or not 1 <= number <= MAX_POSITION:
        hint = " Positions start at 1 (the top)." if number is not None and number < 1 else ""
        shown = text.strip()[:40] + ("…" if len(text.strip()) > 40 else "")
        fail(
            f"Position must be a whole number from 1 to {MAX_POSITION_TEXT} "
            f"(got {shown or 'nothing'})." + hint
        )
    assert number is not None
    return number


def _aware_time_or_fail(text: str, target: Any) -> str:
    """``--at`` as typed; a time without a zone is the site's local time."""
    from service.sites.local_time import read_time

    parsed = read_time(target, text)
    if parsed is None:
        fail(f"--at must be a date and time like {AT_EXAMPLE} (got {text!r}).")
    return parsed.isoformat()


def _rank_set_text(messages: Any, target: Any, category: str, at: str | None) -> str:
    """The schema's checks that remain after ours, said for a person at a terminal."""
    if isinstance(messages, dict) and "observed_at" in messages:
        return f"--at {at} is in the future; give the time the position was seen."
    if isinstance(messages, dict) and "positions" in messages:
        keys = ", ".join(c.key for c in target.categories)
        return f"unknown category {category!r}; this site has: {keys}"
    return _validation_text(messages)


def _validation_text(messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(_validation_text(v, f"{prefix}{k}: ") for k, v in messages.items())
    if isinstance(messages, list):
        return prefix + " ".join(str(m) for m in messages)
    return prefix + str(messages)
