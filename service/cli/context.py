"""What every data command needs: the schema applied, the site looked up, a failure
said in one line on stderr (exit status 1), never a traceback."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _sqlite_file() -> str | None:
    """The default SQLite file in the instance folder, unless a database URL is configured
    (then the user chose where it lives and knows)."""
    from flask import current_app
    from sqlalchemy.engine import make_url

    if current_app.config.get("DATABASE_URL"):
        return None
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(url.database)


def upgrade() -> None:
    """Apply pending migrations; a database created by doing so is announced on stderr,
    so a command run with another instance folder than meant does not go unnoticed."""
    from flask_migrate import upgrade as alembic_upgrade

    from service import MIGRATIONS_DIR

    path = _sqlite_file()
    fresh = path is not None and not os.path.exists(path)
    alembic_upgrade(directory=MIGRATIONS_DIR)
    if fresh:
        click.echo(f"Created a new database: {path}", err=True)


def ensure_schema() -> None:
    """Data commands work on a fresh instance too: apply pending migrations first."""
    upgrade()


def site_or_fail(slug: str) -> Any:
    from service.sites.settings import get_site

    ensure_schema()
    site = get_site(slug)
    if site is None:
        fail(f"no site {slug!r} (see `ranklet site list`)")
    return site
