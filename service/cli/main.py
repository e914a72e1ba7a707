"""The ``ranklet`` command: the group, and the commands that run processes or the schema
(serve, demo, worker, db). The data commands live by group: ``cli_site`` (site, token,
erase), ``cli_rank`` (rank) and ``cli_transfer`` (export, import)."""

from __future__ import annotations

import os
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from service import create_app
from service.cli.context import ensure_schema, fail, upgrade
from service.cli.rank import rank
from service.cli.site import erase, site, token
from service.cli.transfer import export_command, import_group


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
    data lives in ~/.local/share/ranklet (SQLite; $XDG_DATA_HOME/ranklet where that is
    set), whichever folder you run it from, and the server listens on 127.0.0.1:8000.
    """
    from service.core.drivers import missing_driver

    prefix = "RANKLET_"
    settings = {k[len(prefix) :]: v for k, v in os.environ.items() if k.startswith(prefix)}
    missing = missing_driver(settings)  # before any app, migration or server starts
    if missing:
        fail(missing)


def _serve_options(function: Any) -> Any:
    function = click.option(
        "--threads",
        default=8,
        show_default=True,
        type=click.IntRange(1, 256),
        help="Threads per worker. They run only whole requests (idle and slow connections "
        "wait in the worker's poller), so a few overlap database waits; more fight over "
        "the GIL.",
    )(function)
    function = click.option(
        "--workers",
        default=None,
        type=click.IntRange(1, 64),
        help="gunicorn worker processes.  [default: one per CPU core this process may use]",
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
        fail(
            f"Port {port} on {host} is already in use (is another `ranklet demo` or "
            f"`ranklet serve` running?). Stop it or pass --port {other}."
        )


def _run_server(host: str, port: int, workers: int | None, threads: int) -> None:
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
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Upgrade the database schema if needed, then serve with gunicorn."""
    from service.server import default_workers

    _port_free_or_fail(host, port)
    upgrade()
    workers = workers or default_workers()
    click.echo(f"Ranklet on http://{host}:{port}/ ({workers} workers)", err=True)
    _run_server(host, port, workers, threads)


@main.command()
@_serve_options
@with_appcontext
def demo(host: str, port: int, workers: int | None, threads: int) -> None:
    """Create the `demo` site with sample data, print its token and URL, then serve.

    Each start issues a new admin token for the site `demo` (a token is stored only as a
    hash, so the previous one cannot be shown again); a start that fails because the port
    is taken changes nothing, so the demo already running keeps its token.
    """
    from service.demo.data import DEMO_SLUG, seed_demo

    _port_free_or_fail(host, port)
    upgrade()
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
    upgrade()
    click.echo("The database schema is up to date.", err=True)


@main.command()
@click.option("--once", is_flag=True, help="Do one pass over due notifications, then exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Deliver queued notifications (webhooks, e-mails) in the foreground; Ctrl-C stops it.

    Servers deliver by themselves unless RANKLET_NOTIFY_WORKER=false; running this as
    well is safe (a notification is claimed by one sender only).
    """
    from service.notify.sender import Sender

    ensure_schema()
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


for command in (site, token, erase, rank, export_command, import_group):
    main.add_command(command)


if __name__ == "__main__":
    main()
