"""SQLite's write gate (service.db_types.WriteGate): writers queue instead of failing.

Two apps on one file stand for two worker processes: each has its own gate object and its
own descriptor of ``<database>-writer.lock``, and ``flock`` locks of two descriptors exclude
each other even inside one process.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ORIGIN = "https://blog.example"


def _make_app(database: Path, instance: Path) -> Any:
    from service import create_app
    from service.core.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_STORAGE_URI": "memory://",
            "COMMENT_RATE_LIMIT": "",
            "NOTIFY_WORKER": False,
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def two_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    from service.core.extensions import db
    from service.sites.settings import SiteSettings, create_site

    database = tmp_path / "ranklet.db"
    first = _make_app(database, tmp_path)
    second = _make_app(database, tmp_path)
    with first.app_context():
        create_site("blog", SiteSettings(name="Blog", origins=[ORIGIN]))
    yield first, second
    for app in (first, second):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def gate_of(app: Any) -> Any:
    from service.core.extensions import db
    from service.db.types import GATES

    with app.app_context():
        return GATES[db.engine]


def post(client: Any, text: str, article: str = "/gate/") -> Any:
    return client.post(
        "/api/v1/sites/blog/comments",
        json={"article": article, "body": text},
        headers={"Origin": ORIGIN},
    )


def test_concurrent_writers_of_two_processes_all_succeed(two_apps):
    clients = [app.test_client() for app in two_apps]

    def one(index: int) -> int:
        return post(clients[index % 2], f"comment {index}").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(160)))
    assert statuses == [201] * 160
    answer = clients[1].get("/api/v1/sites/blog/comments?article=/gate/&limit=1").get_json()
    assert answer["total"] == 160


def test_a_held_gate_makes_writes_wait_then_answer_503_while_reads_go_on(two_apps):
    first, _ = two_apps
    client = first.test_client()
    assert post(client, "before").status_code == 201
    gate = gate_of(first)
    gate.timeout = 0.5
    holder = os.open(gate.path, os.O_RDWR)  # another process, in the middle of a write
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        refused = post(client, "during")
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert refused.headers["Retry-After"]
        assert 0.4 <= waited < 3, waited
        started = time.monotonic()
        read = client.get("/api/v1/sites/blog/widget?article=/gate/")
        assert read.status_code == 200
        assert time.monotonic() - started < 0.4  # readers never wait for the gate
        assert read.get_json()["comments"]["total"] == 1
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    assert post(client, "after").status_code == 201


def test_the_gate_is_released_after_refused_and_failed_writes(two_apps):
    first, second = two_apps
    client = first.test_client()
    for app in two_apps:
        gate_of(app).timeout = 0.5
    created = post(client, "mine").get_json()["comment"]["id"]
    for _ in range(5):  # each begins a writing transaction, then is refused
        refused = client.patch(
            f"/api/v1/sites/blog/comments/{created}",
            json={"body": "not mine"},
            headers={"Origin": ORIGIN, "X-Edit-Token": "et_wrong"},
        )
        assert refused.status_code == 403
    started = time.monotonic()
    assert post(second.test_client(), "next").status_code == 201
    assert time.monotonic() - started < 0.4, "a refused write kept the gate"


def test_the_gate_excludes_writers_across_descriptors(tmp_path):
    from service.db.types import WriteGate

    database = str(tmp_path / "x.db")
    one, two = WriteGate(database, timeout=0.2), WriteGate(database, timeout=0.2)
    one.acquire()
    try:
        with pytest.raises(Exception, match="database is locked"):
            two.acquire()
    finally:
        one.release()
    two.acquire()
    two.release()


def test_an_in_memory_database_has_a_process_lock_only():
    from service.db.types import WriteGate

    gate = WriteGate(":memory:")
    assert gate.path is None
    gate.acquire()
    gate.release()


def test_a_transaction_knows_whether_it_began_as_a_writer(two_apps):
    """``writing_transaction``: the API's post goes on writing in the transaction its reads
    began as a writer; a reading one must end before the write (SQLite cannot promote it)."""
    from sqlalchemy import text

    from service.core.extensions import db
    from service.db.types import transaction_intent, writing_transaction

    first, _ = two_apps
    with first.app_context():
        session = db.session()
        assert not writing_transaction(session)  # no transaction at all
        with transaction_intent(False):
            session.execute(text("SELECT 1"))
        assert not writing_transaction(session)
        session.commit()
        with transaction_intent(True):
            session.execute(text("SELECT 1"))
        assert writing_transaction(session)
        assert gate_of(first)._lock.locked()  # the gate is held from BEGIN
        session.commit()
        assert not writing_transaction(session)
        assert not gate_of(first)._lock.locked()


def test_a_begin_refused_by_sqlite_is_sqlalchemys_operational_error(two_apps):
    """A BEGIN IMMEDIATE that SQLite refuses (another process not using the gate holds the
    lock) fails as an ``OperationalError``, the error every database failure is mapped from."""
    import sqlite3

    from sqlalchemy import event, text
    from sqlalchemy.exc import OperationalError

    from service.core.extensions import db
    from service.db.types import transaction_intent

    first, _ = two_apps
    with first.app_context():
        engine = db.engine

        def short_timeout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout = 50")

        event.listen(engine, "checkout", short_timeout)
        holder = sqlite3.connect(engine.url.database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with (
                pytest.raises(OperationalError, match="database is locked"),
                transaction_intent(True),
            ):
                db.session.execute(text("SELECT 1"))
            db.session.rollback()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            event.remove(engine, "checkout", short_timeout)
        with transaction_intent(True):
            db.session.execute(text("SELECT 1"))
        db.session.commit()
