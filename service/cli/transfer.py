"""``ranklet export`` and ``ranklet import json|isso|disqus|wordpress|blogger|movabletype``.

The import commands are made by one factory: the same options, the same progress bar on
a terminal, the same one-line refusal with nothing written; only the reader of the file
and the help text differ. ``movabletype`` adds the options its format needs (where each
entry lives, the encoding, the time zone).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from flask.cli import with_appcontext

from service.cli.context import fail, site_or_fail

# command -> (module and function that open the file, help: first line, then more)
IMPORT_FORMATS: dict[str, tuple[str, str]] = {
    "json": (
        "service.transfer.json_format:read_json",
        "Restore a `ranklet export` file: categories, rank history, threads and comments.",
    ),
    "isso": (
        "service.transfer.isso:read_isso",
        "Import an Isso SQLite database (comments.db): threads, replies, likes, modes.",
    ),
    "disqus": (
        "service.transfer.disqus:read_disqus",
        "Import a Disqus XML export: threads, posts, replies, deleted and spam flags.",
    ),
    "wordpress": (
        "service.transfer.wordpress:read_wordpress",
        "Import a WordPress export (WXR, Tools → Export): posts' comments, replies, statuses.",
    ),
    "blogger": (
        "service.transfer.blogger:read_blogger",
        "Import a Blogger export (Settings → Back up content, or Google Takeout's "
        "feed.atom): comments on posts and pages, replies, statuses.",
    ),
}


@click.command("export")
@click.argument("slug")
@click.option(
    "--email",
    help="Only this address's comments, for a reader who asks for their data "
    "(no rankings, no site settings).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to FILE (created readable by you only) instead of stdout.",
)
@with_appcontext
def export_command(slug: str, email: str | None, output: str | None) -> None:
    """Write a site as one versioned JSON document, private fields included: keep it safe."""
    from service.transfer.export import export_site, export_text

    target = site_or_fail(slug)
    document = export_site(target, email)
    text = export_text(document)
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    comments = sum(len(thread["comments"]) for thread in document["threads"])
    click.echo(f"Exported {comments} comments of {target.slug!r} to {output}.", err=True)


@click.group("import")
def import_group() -> None:
    """Import a Ranklet export, an Isso database, or a Disqus, WordPress, Blogger or
    Movable Type (Hatena Blog, FC2, Seesaa, JUGEM, Cocolog, Livedoor) export into a site.

    Create the site first (`ranklet site create`). Each import runs in one transaction
    (all or nothing) and may be run again: what is already there is skipped.
    """


def run_import(slug: str, path: str, read: Callable[[str], Any], dry_run: bool) -> None:
    """Open the file, write it with a progress bar on a terminal, print the summary."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.transfer.items import ImportRefused
    from service.transfer.pipeline import apply_import

    target = site_or_fail(slug)
    try:
        source = read(path)
        with click.progressbar(
            length=max(source.size, 1),
            label=f"Importing from {source.source}",
            file=sys.stderr,
            hidden=not sys.stderr.isatty(),  # a log or a pipe gets only the summary
        ) as bar:
            summary = apply_import(target, source, progress=bar.update, dry_run=dry_run)
    except ImportRefused as error:
        fail(f"{str(error).rstrip('.')}. Nothing was imported.")
    except (SQLAlchemyError, ValueError, LookupError, OverflowError, RecursionError) as error:
        # A file the readers' checks let through but the database would not hold: the
        # transaction was rolled back, and the reader gets a sentence, not a traceback.
        detail = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        fail(f"{path} could not be imported ({detail}). Nothing was imported.")
    for line in summary.lines():
        click.echo(line)


def import_command(name: str, reader: str, help_text: str) -> click.Command:
    """``ranklet import NAME FILE --site SLUG [--dry-run]``, reading FILE with ``reader``
    ("module:function", imported only when the command runs)."""

    @click.command(name, help=help_text)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--dry-run",
        is_flag=True,
        help="Read and check everything and print the summary, but write nothing.",
    )
    @click.option(
        "--site",
        "slug",
        required=True,
        help="The site to import into (create it first with `ranklet site create`).",
    )
    @with_appcontext
    def command(file: str, dry_run: bool, slug: str) -> None:
        module, _, function = reader.partition(":")
        run_import(slug, file, getattr(importlib.import_module(module), function), dry_run)

    return command


for _name, (_reader, _help) in IMPORT_FORMATS.items():
    import_group.add_command(import_command(_name, _reader, _help))


@import_group.command("movabletype")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", "slug", required=True, help="The site to import into.")
@click.option(
    "--permalink",
    metavar="TEMPLATE",
    help="Each entry's path from its BASENAME and DATE: {basename} {year} {month} {day} "
    "{hour} {minute} {second}. Hatena Blog: /entry/{basename}.",
)
@click.option(
    "--map",
    "mapping",
    type=click.Path(exists=True, dir_okay=False),
    help="A CSV with the header title,path or basename,path: one row per entry.",
)
@click.option(
    "--encoding",
    type=click.Choice(["auto", "utf-8", "shift_jis", "euc-jp"]),
    default="auto",
    show_default=True,
    help="The file's encoding; auto tries UTF-8, then Shift_JIS, then EUC-JP.",
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="The zone the file's dates were written in (IANA name, e.g. Asia/Tokyo); "
    "default: the site's (ja: Asia/Tokyo, en: UTC).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read and check everything and print the summary, but write nothing.",
)
@with_appcontext
def movabletype_command(
    file: str,
    slug: str,
    permalink: str | None,
    mapping: str | None,
    encoding: str,
    timezone: str | None,
    dry_run: bool,
) -> None:
    """Import a Movable Type export (Hatena Blog, FC2, Seesaa, JUGEM, Cocolog, Livedoor, MT):
    the entries' comments, each entry's path from --permalink or --map.

    Entries that get no path are named in the summary and left out; two entries on one
    path are refused (nothing is written). Trackbacks (PING) and IP addresses are not
    imported.
    """
    from service.sites.settings import is_timezone, site_timezone
    from service.transfer.movabletype import read_movabletype

    if (permalink is None) == (mapping is None):
        fail("give either --permalink TEMPLATE (Hatena Blog: /entry/{basename}) or --map CSV")
    if timezone is not None and not is_timezone(timezone):
        fail(f"--timezone {timezone!r} is not an IANA time zone name (such as Asia/Tokyo)")
    zone = timezone or site_timezone(site_or_fail(slug))

    def read(path: str) -> Any:
        return read_movabletype(
            path, permalink=permalink, mapping=mapping, encoding=encoding, timezone=zone
        )

    run_import(slug, file, read, dry_run)
