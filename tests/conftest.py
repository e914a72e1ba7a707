"""Fixtures: a fresh app and database per test, on SQLite and on PostgreSQL.

Only fixtures live here; plain helpers are in ``support.py`` (``from support import ...``).
Under ``CI=true`` a missing PostgreSQL, Redis or Chromium is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    PgSchema,
    Server,
    SiteInfo,
    database_env,
    launch_server,
    need,
    pg_database_url,
    postgres_available,
    wait_ready,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with ``slow`` tests (they start servers) first, each module's tests kept in
    order. The test processes (pytest-xdist, a module at a time, in this order: addopts'
    ``--no-loadscope-reorder``) then end the run on short modules together, rather than
    one process still in a long module while the others wait."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ranklet.db'}"
        return
    need(postgres_available(), "PostgreSQL on 127.0.0.1:5432")
    schema = PgSchema()
    schema.create()
    try:
        yield pg_database_url(schema)
    finally:
        from service.core.extensions import db

        # Close pooled connections before dropping, or DROP SCHEMA waits on their locks.
        with contextlib.suppress(Exception):
            db.session.remove()
        schema.drop()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "RATELIMIT_STORAGE_URI": "memory://",
        "COMMENT_RATE_LIMIT": "",
        "NOTIFY_WORKER": False,
        "PUBLIC_URL": "http://127.0.0.1:8000",
    }


@pytest.fixture
def new_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Builds apps from a config (another worker process or host on the same database);
    each is closed and its pool disposed after the test."""
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    from service import create_app
    from service.core.extensions import db

    made: list[Any] = []

    def build(config: dict[str, Any]) -> Any:
        made.append(create_app(config))
        return made[-1]

    yield build
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_config: dict[str, Any], new_app: Callable[..., Any]) -> Any:
    from service.core.extensions import db

    application = new_app(app_config)
    with application.app_context():
        db.create_all()
    return application


@pytest.fixture
def migrated_app(app_config: dict[str, Any], new_app: Callable[..., Any]) -> Any:
    """An app whose database is built by the migrations (as ``ranklet serve`` builds it),
    for modules whose tables must match what an upgrade makes."""
    from service.cli.context import upgrade

    application = new_app(app_config)
    with application.app_context():
        upgrade()
    return application


@pytest.fixture
def cli_app(app_config: dict[str, Any], new_app: Callable[..., Any]) -> Any:
    """An empty database: the data commands apply the migrations themselves."""
    return new_app(app_config)


@pytest.fixture
def ranklet(cli_app: Any) -> Callable[..., Any]:
    """Run a ``ranklet`` command in-process against the test app."""
    from service.cli.main import main

    runner = cli_app.test_cli_runner()

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args))

    return run


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def make_site(app: Any) -> Callable[..., SiteInfo]:
    from service.sites.settings import SiteSettings, create_site

    def make(slug: str = "blog", **settings: Any) -> SiteInfo:
        settings.setdefault("origins", ["https://blog.example.com"])
        with app.app_context():
            site, token = create_site(slug, SiteSettings(**settings))
            return SiteInfo(site.slug, token)

    return make


@pytest.fixture
def site(make_site: Callable[..., SiteInfo]) -> SiteInfo:
    return make_site("blog")


# --- real servers ---------------------------------------------------------------------------


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens, for the whole test: bound but not listening,
    so connections to it are refused, and no other process (a server of another test worker)
    can take it meanwhile, as it could a port that ``free_port`` found and released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``ranklet serve`` subprocesses; each is stopped after the test."""
    servers: list[Server] = []

    def start(
        workers: int = 2,
        env: dict[str, str] | None = None,
        command: str = "serve",
        instance: Path | None = None,
        port: int | None = None,
    ) -> Server:
        folder = instance or tmp_path / f"instance-{len(servers)}"
        server = launch_server(tmp_path, folder, command, workers, env, port)
        servers.append(server)
        return wait_ready(server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a subprocess server on SQLite (its default) or a fresh PG schema."""
    with database_env(request.param) as env:
        yield env
