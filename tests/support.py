"""Plain test helpers: service availability, free ports, PostgreSQL schemas, servers.

Import them with ``from support import ...``. They live here, not in ``conftest.py``,
because pytest imports every ``conftest.py`` of a folder without ``__init__.py`` as the
module ``conftest``: ``tests/browser/conftest.py`` would shadow ``tests/conftest.py`` for
modules imported after it. There is only one ``support``, and it holds no fixtures.

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
import urllib.request
import uuid
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


def has_command(name: str) -> bool:
    return shutil.which(name) is not None


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers 200, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # loopback only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up within {timeout}s")


# --- PostgreSQL -----------------------------------------------------------------------------


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


# --- sites and real servers -----------------------------------------------------------------


@dataclass
class SiteInfo:
    slug: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


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
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"ranklet {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def create_site(self, slug: str, *origins: str) -> SiteInfo:
        origin_args = [
            a for o in (origins or ("https://blog.example.com",)) for a in ("--origin", o)
        ]
        data = json.loads(self.cli("site", "create", slug, "--json", *origin_args))
        return SiteInfo(data["site"], data["token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def walk(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every node of a comment tree, depth first."""
    found = []
    for node in tree:
        found.append(node)
        found.extend(walk(node["replies"]))
    return found


def launch_server(
    logs: Path,
    instance: Path | str,
    command: str = "serve",
    workers: int = 2,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Server:
    """Start ``ranklet <command>`` on 127.0.0.1 (a free port unless given), its output in
    ``logs``; the caller waits for it with :func:`wait_ready` and stops it."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    full_env.update(
        {
            "RANKLET_INSTANCE_PATH": str(instance),
            "RANKLET_SECRET_KEY": "test-secret-key",
            "PYTHONUNBUFFERED": "1",
        }
    )
    full_env.update(env or {})
    log = logs / f"server-{port}.log"
    cli = [sys.executable, "-m", "service.cli", command, "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*cli, "--workers", str(workers)], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(f"http://127.0.0.1:{port}", process, full_env, log)


def wait_ready(server: Server) -> Server:
    """Wait for ``/readyz``; a server that never gets there is stopped, its log shown."""
    try:
        wait_http(server.base + "/readyz", timeout=30)
    except AssertionError:
        server.stop()
        raise AssertionError(server.log.read_text(errors="replace")[-3000:]) from None
    return server
