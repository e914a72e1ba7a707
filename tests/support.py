"""Plain test helpers: service availability, free ports, PostgreSQL schemas, servers.

Import them with ``from support import ...``. They live here, not in ``conftest.py``,
because pytest imports every ``conftest.py`` of a folder without ``__init__.py`` as the
module ``conftest``: ``tests/browser/conftest.py`` would shadow ``tests/conftest.py`` for
modules imported after it. There is only one ``support``, and it holds no fixtures.

Under ``CI=true`` a missing PostgreSQL, Redis or Chromium is a failure, never a skip.

Servers are started, awaited and stopped by ``bench/serving.py``, the one way the benches
and ``scripts/screenshot.py`` use too; ``ranklet`` commands run through its ``cli``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import serving
from serving import free_port as free_port  # for the tests' own listeners

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


@contextlib.contextmanager
def database_env(kind: str) -> Iterator[dict[str, str]]:
    """The environment of a subprocess server on ``kind``: ``"sqlite"`` (its default, no
    variable) or ``"postgres"`` (a fresh schema, dropped afterwards)."""
    if kind != "postgres":
        yield {}
        return
    need(postgres_available(), "PostgreSQL on 127.0.0.1:5432")
    schema = PgSchema()
    schema.create()
    try:
        yield {"RANKLET_DATABASE_URL": pg_database_url(schema)}
    finally:
        schema.drop()


def _plain_pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pg_database_url(schema: PgSchema) -> str:
    """A URL that puts every connection in the schema (for subprocess servers too), named
    after it in ``pg_stat_activity`` (``application_name``): test processes run side by
    side (pytest-xdist), so a test that acts on connections must pick only its own."""
    return f"{schema.url}?options=-csearch_path%3D{schema.name}&application_name={schema.name}"


# --- comments for the spam filter's tests ----------------------------------------------------


@contextlib.contextmanager
def _recorded(app: Any, keep: Callable[[str, Any], Any]) -> Iterator[list[Any]]:
    """``keep(statement, parameters)`` of every statement the app's engine runs through
    SQLAlchemy while open (views, ORM, Core)."""
    from sqlalchemy import event

    from service.core.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append(keep(statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def engine_statements(app: Any) -> contextlib.AbstractContextManager[list[str]]:
    """The SQL of every statement the app's engine runs through SQLAlchemy while open."""
    return _recorded(app, lambda statement, _parameters: statement)


def orm_statements(app: Any) -> contextlib.AbstractContextManager[list[tuple[str, Any]]]:
    """(statement, parameters) of everything run through SQLAlchemy (views, ORM, Core)."""
    return _recorded(app, lambda statement, parameters: (statement, parameters))


# Readers' comments and spam a business blog gets, English and Japanese; ``{n}`` makes each
# one distinct.
SAMPLE_HAM = [
    "Thanks for the write-up on pricing, we tried it with our {n} clients.",
    "How did you measure retention in year {n}? Our numbers look different.",
    "記事を読んで、価格設定の考え方がとても参考になりました。{n}社で試してみます。",
    "うちの会社でも同じ課題がありました。{n}年かけて改善しました。",
    "Could you share the template for the quarterly review? We have {n} managers.",
]
SAMPLE_SPAM = [
    "Buy cheap replica watches online at [shop](https://cheap-watch{n}.example.ru/)",
    "Earn $5000 a week from home!!! Visit https://easy-money{n}.example.ru now",
    "出会い系で今すぐ会える！登録無料 https://deai{n}.example.cn/",
]


# --- sites and real servers -----------------------------------------------------------------


@dataclass
class SiteInfo:
    slug: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Server(serving.Server):
    """A ``ranklet serve`` (or ``demo``) subprocess on a free 127.0.0.1 port."""

    port_chosen: bool = False  # by free_port(), not by the test: another one will do

    def cli(self, *args: str) -> str:
        """``ranklet <args>`` with this server's environment (its instance, its database)."""
        return serving.cli(self.env, *args, timeout=60)

    def create_site(self, slug: str, *origins: str) -> SiteInfo:
        origin_args = [
            a for o in (origins or ("https://blog.example.com",)) for a in ("--origin", o)
        ]
        data = json.loads(self.cli("site", "create", slug, "--json", *origin_args))
        return SiteInfo(data["site"], data["token"])


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
    chosen = port is None
    port = port or free_port()
    full_env = serving.clean_env(
        instance, **{"RANKLET_SECRET_KEY": "test-secret-key", **(env or {})}
    )
    command_line = serving.ranklet_command(command, port, workers)
    log = logs / f"server-{port}.log"
    return Server("ranklet", command_line, port, full_env, log, port_chosen=chosen).start()


# What ``ranklet serve`` (its own check) and gunicorn (binding) say when a port is taken.
PORT_TAKEN = ("is already in use", "Connection in use")


def wait_ready(server: Server) -> Server:
    """Wait for ``/readyz``; a server that never gets there is stopped, its log shown.

    :func:`free_port` releases the port it found before the server binds it, and test
    processes run side by side (pytest-xdist): when another one's listener took the port
    meanwhile, the server (whose port no test chose) starts again on a new one, twice at
    most. Any other failure to start fails at once."""
    moves = 0
    while True:
        try:
            return server.wait_ready(limit=30)
        except RuntimeError:
            server.stop()
            log = server.log.read_text(errors="replace")
            if not (server.port_chosen and moves < 2 and any(s in log for s in PORT_TAKEN)):
                raise AssertionError(log[-3000:]) from None
        moves += 1
        _move_to_a_new_port(server)


def _move_to_a_new_port(server: Server) -> None:
    """Start ``server`` again on another free port (a log of its own there)."""
    port = free_port()
    at = server.command.index("--port") + 1
    server.command = [*server.command[:at], str(port), *server.command[at + 1 :]]
    server.log = server.log.with_name(f"server-{port}.log")
    server.port = port
    server.start()


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST ``body`` as JSON to a test server: (status, decoded answer), error answers too."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def kill_hard(process: Any) -> None:
    """SIGKILL a server and its workers: no chance to finish anything."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == process.pid:
            children.append(int(entry.name))
    process.kill()
    process.wait(timeout=10)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def record_at_minute(client: Any, site: Any, positions: dict[str, int], minute: int) -> None:
    """Record ``positions`` through the API, observed at that minute of 2024-01-01."""
    answer = client.post(
        f"/api/v1/sites/{site.slug}/rankings",
        json={"positions": positions, "observed_at": f"2024-01-01T00:{minute:02d}:00Z"},
        headers=site.auth,
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


# Badges of a site or category that does not exist, SVG and PNG alike: (the path under
# /badge/ without its extension, the query, what the 404 badge says).
UNKNOWN_BADGES = [
    ("nosuch/consulting", "", "unknown site"),
    ("blog/nosuch", "", "ランキングが見つかりません"),
    ("blog/nosuch", "lang=en", "unknown category"),
]


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ranklet <args>`` as a user runs it, in a child process with ``env`` (in the folder
    ``cwd``, if given); never raises on a failing exit status (the test reads
    ``returncode``, ``stdout`` and ``stderr``)."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_import_memory_flat(
    cli_app: Any, make_file: Callable[[int], Path], read: Callable[[str], Any]
) -> None:
    """An import's traced peak memory does not grow with the file: 10,000 comments peak
    within 400 KiB of 1,000 (after a first import that fills the caches)."""
    import tracemalloc

    from service.cli.context import ensure_schema
    from service.core.extensions import db
    from service.sites.settings import SiteSettings, create_site
    from service.transfer.pipeline import apply_import

    def peak(count: int, slug: str) -> int:
        path = make_file(count)
        with cli_app.app_context():
            ensure_schema()
            site, _token = create_site(slug, SiteSettings(origins=["https://blog.example.com"]))
            tracemalloc.start()
            try:
                summary = apply_import(site, read(str(path)))
                _now, highest = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert summary.comments == count
            db.session.remove()
        return highest

    peak(1000, "warm")  # caches (compiled statements, regexes) fill on the first import
    small, large = peak(1000, "small"), peak(10_000, "large")
    assert large - small < 400 * 1024, (small, large)
