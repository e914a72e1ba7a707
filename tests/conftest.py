"""Fixtures: a fresh app and database per test, on SQLite and on PostgreSQL.

Under ``CI=true`` a missing PostgreSQL, Redis or Chromium is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("RANKLET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RANKLET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("RANKLET_TEST_CHROMIUM", "/usr/bin/chromium")


def need(available: bool, what: str) -> None:
    """Skip on a developer machine without ``what``; fail in CI, where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return _port_open("127.0.0.1", 5432)


def redis_available() -> bool:
    return _port_open("127.0.0.1", 6379)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgSchema:
    """A fresh schema in the test database, so runs and tests never see each other."""

    name: str = field(default_factory=lambda: "t_" + uuid.uuid4().hex[:12])

    @property
    def url(self) -> str:
        return PG_URL

    @property
    def options(self) -> str:
        return f"-csearch_path={self.name}"

    def create(self) -> None:
        import psycopg

        with psycopg.connect(_plain_pg(PG_URL), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(_plain_pg(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def _plain_pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pg_database_url(schema: PgSchema) -> str:
    """A URL that puts every connection in the schema (for subprocess servers too)."""
    return f"{schema.url}?options=-csearch_path%3D{schema.name}"


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
        from service.extensions import db

        # Close pooled connections before dropping, or DROP SCHEMA waits on their locks.
        try:
            db.session.remove()
        except Exception:  # noqa: BLE001, S110
            pass
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
def app(app_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    from service import create_app
    from service.extensions import db

    application = create_app(app_config)
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass
class SiteInfo:
    slug: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_site(app: Any) -> Callable[..., SiteInfo]:
    from service.sites import SiteSettings, create_site

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


@dataclass
class Server:
    """A ``ranklet serve`` subprocess on a free 127.0.0.1 port."""

    base: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"ranklet {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_site(self, slug: str, *origins: str) -> SiteInfo:
        out = self.cli("site", "create", slug, "--json",
                       *[a for o in (origins or ("https://blog.example.com",)) for a in ("--origin", o)])
        data = json.loads(out)
        return SiteInfo(data["site"], data["token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_http(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up within {timeout}s")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``ranklet serve`` subprocesses; each is stopped after the test."""
    servers: list[Server] = []

    def start(
        workers: int = 2, env: dict[str, str] | None = None, command: str = "serve",
        instance: Path | None = None, port: int | None = None,
    ) -> Server:
        port = port or free_port()
        folder = instance or tmp_path / f"instance-{len(servers)}"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
        full_env.update({
            "RANKLET_INSTANCE_PATH": str(folder),
            "RANKLET_SECRET_KEY": "test-secret-key",
            "PYTHONUNBUFFERED": "1",
        })
        full_env.update(env or {})
        log = tmp_path / f"server-{port}.log"
        cli = [sys.executable, "-m", "service.cli", command, "--port", str(port),
               "--workers", str(workers)]
        if command == "demo":
            pass
        with open(log, "wb") as out:
            process = subprocess.Popen(cli, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, full_env, log)
        servers.append(server)
        try:
            wait_http(server.base + "/readyz", timeout=30)
        except AssertionError:
            server.stop()
            raise AssertionError(log.read_text(errors="replace")[-3000:]) from None
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a subprocess server on SQLite (its default) or a fresh PG schema."""
    if request.param == "sqlite":
        yield {}
        return
    need(postgres_available(), "PostgreSQL on 127.0.0.1:5432")
    schema = PgSchema()
    schema.create()
    try:
        yield {"RANKLET_DATABASE_URL": pg_database_url(schema)}
    finally:
        schema.drop()


def has_command(name: str) -> bool:
    return shutil.which(name) is not None
