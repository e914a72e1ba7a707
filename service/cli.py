"""The ``ranklet`` command: serve, demo, db, site, token, rank, export and import."""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext
from marshmallow import ValidationError

from service import create_app

MAX_POSITION_TEXT = "1,000,000"
AT_EXAMPLE = "2026-12-03T09:00:00+09:00"


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _upgrade() -> None:
    from flask_migrate import upgrade

    from service import MIGRATIONS_DIR

    upgrade(directory=MIGRATIONS_DIR)


def _ensure_schema() -> None:
    """Data commands work on a fresh instance too: apply pending migrations first."""
    _upgrade()


def _site_or_fail(slug: str) -> Any:
    from service.sites import get_site

    _ensure_schema()
    site = get_site(slug)
    if site is None:
        _fail(f"no site {slug!r} (see `ranklet site list`)")
    return site


class RankletGroup(click.Group):
    """A plain click group that knows how to build the app (for ``with_appcontext``).

    Not Flask's ``FlaskGroup``: that one adds ``--app``, ``--env-file`` and ``--debug`` and
    every installed extension's commands (Flask-Limiter's, flask-smorest's, Alembic's whole
    ``db`` group), none of which a blogger running Ranklet needs to see or can use safely.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if "obj" not in extra and "obj" not in self.context_settings:
            # Flask's test runner passes its own ScriptInfo; the console script builds ours.
            extra["obj"] = ScriptInfo(
                create_app=create_app, set_debug_flag=False, load_dotenv_defaults=False
            )
        return super().make_context(info_name, args, parent, **extra)


@click.group(cls=RankletGroup)
def main() -> None:
    """Ranklet: ranking badges and privacy-first comments for your blog.

    Settings come from RANKLET_* environment variables (see the README); with none set,
    data lives in ./instance (SQLite) and the server listens on 127.0.0.1:8000.
    """


def _serve_options(function: Any) -> Any:
    function = click.option(
        "--threads",
        default=64,
        show_default=True,
        type=click.IntRange(1, 256),
        help="Threads per worker; idle or slow connections each hold one.",
    )(function)
    function = click.option(
        "--workers",
        default=2,
        show_default=True,
        type=click.IntRange(1, 64),
        help="gunicorn worker processes.",
    )(function)
    function = click.option(
        "--port",
        default=8000,
        show_default=True,
        type=click.IntRange(1, 65535),
        help="Port to listen on.",
    )(function)
    return click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on (0.0.0.0 for all interfaces, e.g. in a container).",
    )(function)


def _port_free_or_fail(host: str, port: int) -> None:
    """Fail before anything changes (no migration, no new token) when the port is taken."""
    from service.server import port_in_use

    if port_in_use(host, port):
        other = port + 1 if port < 65535 else port - 1
        _fail(
            f"Port {port} on {host} is already in use (is another `ranklet demo` or "
            f"`ranklet serve` running?). Stop it or pass --port {other}."
        )


def _run_server(host: str, port: int, workers: int, threads: int) -> None:
    from service.server import serve as gunicorn_serve

    if not os.environ.get("RANKLET_PUBLIC_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        os.environ["RANKLET_PUBLIC_URL"] = f"http://{shown}:{port}"
    # Workers build their own app; they must agree on the instance folder and secret.
    os.environ.setdefault("RANKLET_INSTANCE_PATH", current_app.instance_path)
    gunicorn_serve(host, port, workers, threads)


@main.command()
@_serve_options
@with_appcontext
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Upgrade the database schema if needed, then serve with gunicorn."""
    _port_free_or_fail(host, port)
    _upgrade()
    click.echo(f"Ranklet on http://{host}:{port}/ ({workers} workers)", err=True)
    _run_server(host, port, workers, threads)


@main.command()
@_serve_options
@with_appcontext
def demo(host: str, port: int, workers: int, threads: int) -> None:
    """Create the `demo` site with sample data, print its token and URL, then serve.

    Each start issues a new admin token for the site `demo` (a token is stored only as a
    hash, so the previous one cannot be shown again); a start that fails because the port
    is taken changes nothing, so the demo already running keeps its token.
    """
    from service.demo_data import DEMO_SLUG, seed_demo

    _port_free_or_fail(host, port)
    _upgrade()
    token = seed_demo(f"http://{host}:{port}")
    click.echo(f"Demo page: http://{host}:{port}/demo/")
    click.echo(f"Admin page: http://{host}:{port}/admin/")
    click.echo(f"Sign in there with site: {DEMO_SLUG}")
    click.echo(f"                  token: {token}")
    click.echo("(a new token each start; the previous one no longer works)")
    _run_server(host, port, workers, threads)


@main.group()
def db() -> None:
    """The database schema (the data commands and `serve` apply it by themselves)."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply pending migrations to the database in RANKLET_DATABASE_URL."""
    _upgrade()
    click.echo("The database schema is up to date.", err=True)


# --- sites --------------------------------------------------------------------------------


@main.group()
def site() -> None:
    """Create, list and change sites (blogs)."""


@site.command("create")
@click.argument("slug")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An origin the blog is served from, e.g. https://blog.example.com (repeatable).",
)
@click.option("--name", help="Display name (default: the slug).")
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
@click.option(
    "--timezone",
    help="IANA time zone the admin shows times in, e.g. Asia/Tokyo "
    "(default: Asia/Tokyo for ja, UTC for en).",
)
@click.option(
    "--moderation",
    type=click.Choice(["none", "all"]),
    default="none",
    show_default=True,
    help="all: every reader comment waits for approval.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"site", "token"} as JSON only.')
@with_appcontext
def site_create(
    slug: str,
    origins: tuple[str, ...],
    name: str | None,
    lang: str,
    timezone: str | None,
    moderation: str,
    as_json: bool,
) -> None:
    """Create a site with the default categories and print its admin token once."""
    from service.sites import SiteError, SiteSettings, create_site

    try:
        _ensure_schema()
        created, token = create_site(
            slug,
            SiteSettings(
                name=name,
                origins=list(origins),
                lang=lang,
                moderation=moderation,
                timezone=timezone,
            ),
        )
    except SiteError as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps({"site": created.slug, "token": token}))
        return
    click.echo(f"Created site {created.slug!r}.")
    click.echo(f"Admin token (shown once, keep it secret): {token}")


@site.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_appcontext
def site_list(as_json: bool) -> None:
    """List sites with their origins, language and moderation mode."""
    _ensure_schema()
    from sqlalchemy import select

    from service.extensions import db
    from service.models import Site
    from service.sites import site_timezone

    sites = db.session.scalars(select(Site).order_by(Site.slug)).all()
    rows = [
        {
            "site": s.slug,
            "name": s.name,
            "origins": s.origins,
            "lang": s.lang,
            "moderation": s.moderation,
            "timezone": site_timezone(s),
        }
        for s in sites
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("No sites yet. Create one: ranklet site create SLUG --origin URL")
    for row in rows:
        click.echo(
            f"{row['site']}\t{row['name']}\t{row['lang']}\tmoderation={row['moderation']}\t"
            + " ".join(row["origins"])
        )


@site.command("update")
@click.argument("slug")
@click.option("--name")
@click.option("--origin", "origins", multiple=True, help="Replaces the origins (repeatable).")
@click.option("--lang", type=click.Choice(["ja", "en"]))
@click.option(
    "--timezone", help="IANA time zone for the admin, e.g. Asia/Tokyo ('' follows --lang)."
)
@click.option("--moderation", type=click.Choice(["none", "all"]))
@click.option("--webhook", help="URL that receives a signed POST per new comment ('' removes it).")
@click.option("--notify-email", help="Address that gets new comments by e-mail ('' removes it).")
@click.option(
    "--notify-pending/--no-notify-pending",
    default=None,
    help="Also notify about comments held for moderation.",
)
@click.option(
    "--banned-word",
    "banned_words",
    multiple=True,
    help="Hold comments containing this word (repeatable; replaces the list).",
)
@click.option(
    "--rank-events",
    type=click.Choice(["best", "all", "none"]),
    help="Rank events for the webhook and e-mail: ranking.best only (the default), "
    "also ranking.recorded for every batch, or none.",
)
@click.option(
    "--best-flag-days",
    type=click.IntRange(0, 365),
    help='Days the badge says "New best!" after a new best (0: never; default 7).',
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def site_update(
    slug: str,
    name: str | None,
    origins: tuple[str, ...],
    lang: str | None,
    timezone: str | None,
    moderation: str | None,
    webhook: str | None,
    notify_email: str | None,
    notify_pending: bool | None,
    banned_words: tuple[str, ...],
    rank_events: str | None,
    best_flag_days: int | None,
    as_json: bool,
) -> None:
    """Change a site's settings; a new webhook prints its signing secret once."""
    from service.sites import SiteError, SiteSettings, new_webhook_secret, update_site

    target = _site_or_fail(slug)
    settings = SiteSettings(
        name=name,
        origins=list(origins) or None,
        lang=lang,
        moderation=moderation,
        webhook_url=webhook,
        notify_email=notify_email,
        notify_pending=notify_pending,
        banned_words=list(banned_words) or None,
        rank_events=rank_events,
        best_flag_days=best_flag_days,
        timezone=timezone,
    )
    try:
        update_site(target, settings)
    except SiteError as error:
        _fail(str(error))
    result: dict[str, Any] = {"site": target.slug}
    if webhook:
        result["webhook_secret"] = new_webhook_secret(target)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Updated site {target.slug!r}.")
    if "webhook_secret" in result:
        click.echo(f"Webhook signing secret (shown once): {result['webhook_secret']}")


@main.group()
def token() -> None:
    """Manage site tokens."""


@token.command("rotate")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help='Print {"site", "token"} as JSON only.')
@with_appcontext
def token_rotate(slug: str, as_json: bool) -> None:
    """Issue a new admin token; the old one stops working at once."""
    from service.sites import rotate_token

    target = _site_or_fail(slug)
    new = rotate_token(target)
    if as_json:
        click.echo(json.dumps({"site": target.slug, "token": new}))
        return
    click.echo(f"New admin token for {target.slug!r} (the old one no longer works): {new}")


# --- notifications and erasure ------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Do one pass over due notifications, then exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Deliver queued notifications (webhooks, e-mails) in the foreground; Ctrl-C stops it.

    Servers deliver by themselves unless RANKLET_NOTIFY_WORKER=false; running this as
    well is safe (a notification is claimed by one sender only).
    """
    from service.notifications import Sender

    _ensure_schema()
    sender = Sender(current_app._get_current_object())  # type: ignore[attr-defined]
    if once:
        taken, delivered = sender.run_once()
        click.echo(f"{delivered} delivered, {taken - delivered} to retry or skipped.")
        return
    click.echo("Delivering notifications; press Ctrl-C to stop.", err=True)
    try:
        sender.run()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)


@main.command()
@click.argument("slug")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase(slug: str, email: str, yes: bool) -> None:
    """Erase every comment and all personal data of one e-mail address on a site."""
    from service.erasure import erase_email

    if not _looks_like_address(email):
        _fail(
            f"{email!r} is not an e-mail address; give the address the comments were "
            "posted with, e.g. reader@example.com"
        )
    target = _site_or_fail(slug)
    if not yes:
        click.confirm(
            f"Erase all comments of {email.strip()} on {target.slug!r}? This cannot be undone",
            abort=True,
        )
    erased = erase_email(target, email)
    click.echo(f"Erased {erased} comment{'s' if erased != 1 else ''} of that address.")


# --- rankings -----------------------------------------------------------------------------


@main.group()
def rank() -> None:
    """Record ranking-portal positions; import and export their history."""


@rank.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("slug")
@click.argument("category")
@click.argument("position")
@click.option(
    "--at", "at", help=f"When it was observed, with a zone, e.g. {AT_EXAMPLE} (default: now)."
)
@with_appcontext
def rank_set(slug: str, category: str, position: str, at: str | None) -> None:
    """Record POSITION (1 = top) for CATEGORY, e.g. `ranklet rank set myblog consulting 4`."""
    from service import ranking
    from service.schemas import RecordPositions

    # ignore_unknown_options: "-3" reaches us as POSITION, not as "No such option '-3'".
    number = _position_or_fail(position)
    target = _site_or_fail(slug)
    raw: dict[str, Any] = {"positions": {category: number}}
    if at:
        raw["observed_at"] = _aware_time_or_fail(at)
    try:
        body = RecordPositions().load(raw)
    except ValidationError as error:
        _fail(_rank_set_text(error.normalized_messages(), target, category, at))
    try:
        ranking.record_positions(target, body["positions"], body.get("observed_at"))
    except ranking.UnknownCategory:
        keys = ", ".join(c.key for c in target.categories)
        _fail(f"unknown category {category!r}; this site has: {keys}")
    standing = next(s for s in ranking.standings(target) if s.category.key == category)
    assert standing.best is not None
    click.echo(
        f"{category}: {body['positions'][category]} recorded; best {standing.best.position} "
        f"(first {standing.best.observed_at:%Y-%m-%d %H:%M} UTC)"
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
    from service.rank_transfer import RankImportRefused, import_rank_history, read_rank_file

    target = _site_or_fail(slug)
    try:
        summary = import_rank_history(target, read_rank_file(file), dry_run=dry_run)
    except RankImportRefused as error:
        _fail(f"{error}\nNothing was imported.")
    for line in summary.lines():
        click.echo(line)


@rank.command("export")
@click.argument("slug")
@click.option("--csv", "as_csv", is_flag=True, help="CSV `category,position,observed_at`.")
@with_appcontext
def rank_export(slug: str, as_csv: bool) -> None:
    """Write a site's whole rank history to stdout (JSON by default), for `rank import`."""
    from service.rank_transfer import export_rank_csv, export_rank_json

    target = _site_or_fail(slug)
    click.echo(export_rank_csv(target) if as_csv else export_rank_json(target), nl=False)


def _position_or_fail(text: str) -> int:
    """A rank as people write it: 1 is the top; commas and a leading "#" are fine."""
    from service.schemas import MAX_POSITION

    # Fullwidth digits become ASCII (as on the admin page); any other script's digits,
    # which int() would take ("٣" is 3), do not name a position.
    cleaned = unicodedata.normalize("NFKC", text).strip().lstrip("#")
    cleaned = cleaned.replace(",", "").replace("_", "")
    number = int(cleaned) if re.fullmatch(r"-?[0-9]{1,40}", cleaned) else None
    if number is None or not 1 <= number <= MAX_POSITION:
        hint = " Positions start at 1 (the top)." if number is not None and number < 1 else ""
        shown = text.strip()[:40] + ("…" if len(text.strip()) > 40 else "")
        _fail(
            f"Position must be a whole number from 1 to {MAX_POSITION_TEXT} "
            f"(got {shown or 'nothing'})." + hint
        )
    assert number is not None
    return number


def _aware_time_or_fail(text: str) -> str:
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--at must be a date and time like {AT_EXAMPLE} (got {text!r}).")
    if parsed.tzinfo is None:
        _fail(f"--at needs a time zone, e.g. {AT_EXAMPLE}")
    return parsed.isoformat()


def _rank_set_text(messages: Any, target: Any, category: str, at: str | None) -> str:
    """The schema's checks that remain after ours, said for a person at a terminal."""
    if isinstance(messages, dict) and "observed_at" in messages:
        return f"--at {at} is in the future; give the time the position was seen."
    if isinstance(messages, dict) and "positions" in messages:
        keys = ", ".join(c.key for c in target.categories)
        return f"unknown category {category!r}; this site has: {keys}"
    return _validation_text(messages)


# --- export and import --------------------------------------------------------------------


@main.command("export")
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
    from service.transfer import export_site, export_text

    target = _site_or_fail(slug)
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


@main.group("import")
def import_group() -> None:
    """Import a Ranklet export, an Isso database, a Disqus or a WordPress export into a site.

    Create the site first (`ranklet site create`). Each import runs in one transaction
    (all or nothing) and may be run again: what is already there is skipped.
    """


def _import_file(slug: str, path: str, read: Any, dry_run: bool = False) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from service.transfer import ImportRefused, apply_batch

    target = _site_or_fail(slug)
    try:
        batch = read(path)
        with click.progressbar(
            length=len(batch.comments),
            label=f"Importing {len(batch.comments)} comments from {batch.source}",
            file=sys.stderr,
            hidden=not sys.stderr.isatty(),  # a log or a pipe gets only the summary
        ) as bar:
            summary = apply_batch(target, batch, progress=bar.update, dry_run=dry_run)
    except ImportRefused as error:
        _fail(f"{str(error).rstrip('.')}. Nothing was imported.")
    except (SQLAlchemyError, ValueError, LookupError, OverflowError, RecursionError) as error:
        # A file the readers' checks let through but the database would not hold: the
        # transaction was rolled back, and the reader gets a sentence, not a traceback.
        detail = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        _fail(f"{path} could not be imported ({detail}). Nothing was imported.")
    for line in summary.lines():
        click.echo(line)


def _import_options(function: Any) -> Any:
    function = click.option(
        "--site",
        "slug",
        required=True,
        help="The site to import into (create it first with `ranklet site create`).",
    )(function)
    function = click.option(
        "--dry-run",
        is_flag=True,
        help="Read and check everything and print the summary, but write nothing.",
    )(function)
    return click.argument("file", type=click.Path(exists=True, dir_okay=False))(function)


@import_group.command("json")
@_import_options
@with_appcontext
def import_json(file: str, slug: str, dry_run: bool) -> None:
    """Restore a `ranklet export` file: categories, rank history, threads and comments."""
    from service.transfer import read_json

    _import_file(slug, file, read_json, dry_run)


@import_group.command("isso")
@_import_options
@with_appcontext
def import_isso(file: str, slug: str, dry_run: bool) -> None:
    """Import an Isso SQLite database (comments.db): threads, replies, likes, modes."""
    from service.importers import read_isso

    _import_file(slug, file, read_isso, dry_run)


@import_group.command("disqus")
@_import_options
@with_appcontext
def import_disqus(file: str, slug: str, dry_run: bool) -> None:
    """Import a Disqus XML export: threads, posts, replies, deleted and spam flags."""
    from service.importers import read_disqus

    _import_file(slug, file, read_disqus, dry_run)


@import_group.command("wordpress")
@_import_options
@with_appcontext
def import_wordpress(file: str, slug: str, dry_run: bool) -> None:
    """Import a WordPress export (WXR, Tools → Export): posts' comments, replies, statuses."""
    from service.import_wordpress import read_wordpress

    _import_file(slug, file, read_wordpress, dry_run)


def _looks_like_address(text: str) -> bool:
    from marshmallow import validate

    try:
        validate.Email()(text.strip())
    except ValidationError:
        return False
    return True


def _validation_text(messages: Any, prefix: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(_validation_text(v, f"{prefix}{k}: ") for k, v in messages.items())
    if isinstance(messages, list):
        return prefix + " ".join(str(m) for m in messages)
    return prefix + str(messages)


if __name__ == "__main__":
    main()
