"""What every data command needs: the schema applied, the site looked up, a failure
said in one line on stderr (exit status 1), never a traceback."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def upgrade() -> None:
    from flask_migrate import upgrade as alembic_upgrade

    from service import MIGRATIONS_DIR

    alembic_upgrade(directory=MIGRATIONS_DIR)


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
