"""Races on every write path, with real parallel requests against a served app.

SQLite's write gate serializes whole write requests; PostgreSQL under READ COMMITTED does
not, so a status or a count decided on a row read before the write is a lost update there.
Each test fires its requests together (a barrier, then one thread each) at a ``ranklet
serve`` with two workers, then checks what a reader and the author see: totals, queues,
outbox rows, and that every thread's stored count is the count of its approved comments.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import Server, SiteInfo

ORIGIN = "https://blog.example.com"
PARALLEL = 8


@dataclass
class Race:
    """A served app and a local app on the same database, to set sites up and look inside."""

    server: Server
    app: Any

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def site(self, slug: str, **settings: Any) -> SiteInfo:
        from service.sites.settings import SiteSettings, create_site

        settings.setdefault("origins", [ORIGIN])
        with self.app.app_context():
            site, token = create_site(slug, SiteSettings(**settings))
            return SiteInfo(site.slug, token)

    def sql(self, query: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        from service.core.extensions import db

        with self.app.app_context():
            rows = db.session.execute(text(query), params).all()
            db.session.rollback()
            return rows

    def counts_agree(self) -> None:
        """Every thread's stored count is the number of its approved comments."""
        wrong = self.sql(
            "SELECT t.article, t.approved_count, (SELECT count(*) FROM comments c"
            " WHERE c.thread_id = t.id AND c.status = 'approved') FROM threads t"
            " WHERE t.approved_count <> (SELECT count(*) FROM comments c"
            " WHERE c.thread_id = t.id AND c.status = 'approved')"
        )
        assert wrong == []

    def total(self, site: SiteInfo, article: str) -> int:
        status, body = call(
            "GET", self.url(f"/api/v1/sites/{site.slug}/comments?article={article}")
        )
        assert status == 200, body
        counted = call("GET", self.url(f"/api/v1/sites/{site.slug}/counts?article={article}"))[1]
        assert counted["counts"][article] == body["total"]
        return int(body["total"])

    def post(self, site: SiteInfo, article: str, body: str, **fields: Any) -> dict[str, Any]:
        status, answer = call(
            "POST",
            self.url(f"/api/v1/sites/{site.slug}/comments"),
            {"article": article, "body": body, **fields},
            {"Origin": ORIGIN},
        )
        assert status in (201, 202), answer
        return answer

    def queue(self, site: SiteInfo, status: str) -> list[int]:
        code, body = call(
            "GET",
            self.url(f"/api/v1/sites/{site.slug}/moderation?status={status}&limit=200"),
            headers=site.auth,
        )
        assert code == 200, body
        return [c["id"] for c in body["comments"]]


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request: (status, decoded JSON or None for an empty body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once (all threads released by one barrier); their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def race(
    start_server: Callable[..., Server],
    server_database: dict[str, str],
    new_app: Callable[..., Any],
    tmp_path: Path,
) -> Iterator[Race]:
    url = server_database.get("RANKLET_DATABASE_URL") or f"sqlite:///{tmp_path / 'race.db'}"
    server = start_server(
        workers=2,
        env={
            "RANKLET_DATABASE_URL": url,
            "RANKLET_COMMENT_RATE_LIMIT": "",
            "RANKLET_NOTIFY_WORKER": "false",  # outbox rows stay where the test can count them
            "RANKLET_WEBHOOK_ALLOW_PRIVATE": "true",
        },
    )
    app = new_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret-key",
            "NOTIFY_WORKER": False,
            "WEBHOOK_ALLOW_PRIVATE": True,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    yield Race(server, app)


def test_parallel_deletes_with_one_edit_token_remove_one_comment(race: Race) -> None:
    site = race.site("deletes")
    mine = race.post(site, "/a/", "mine")
    for n in range(2):
        race.post(site, "/a/", f"other {n}")
    assert race.total(site, "/a/") == 3
    url = race.url(f"/api/v1/sites/{site.slug}/comments/{mine['comment']['id']}")
    headers = {"Origin": ORIGIN, "X-Edit-Token": mine["edit_token"]}
    answers = together(*[lambda: call("DELETE", url, headers=headers)] * PARALLEL)
    codes = sorted(code for code, _ in answers)
    assert codes[0] == 204 and set(codes) <= {204, 403}, answers
    assert race.total(site, "/a/") == 2
    assert race.queue(site, "deleted") == [mine["comment"]["id"]]
    assert mine["comment"]["id"] not in race.queue(site, "approved")
    race.counts_agree()


def test_parallel_approvals_count_a_pending_comment_once(race: Race) -> None:
    site = race.site("approvals", moderation="all")
    held = race.post(site, "/b/", "held for review")
    assert held["status"] == "pending" and race.total(site, "/b/") == 0
    url = race.url(f"/api/v1/sites/{site.slug}/comments/{held['comment']['id']}/moderate")
    answers = together(*[lambda: call("POST", url, {"action": "approve"}, site.auth)] * PARALLEL)
    assert {code for code, _ in answers} == {200}, answers
    assert race.total(site, "/b/") == 1
    assert race.queue(site, "pending") == []
    assert race.queue(site, "approved") == [held["comment"]["id"]]
    # Then spam and restore in parallel: whatever order they ran in, the count is right.
    answers = together(
        *[lambda: call("POST", url, {"action": "spam"}, site.auth)] * (PARALLEL // 2),
        *[lambda: call("POST", url, {"action": "restore"}, site.auth)] * (PARALLEL // 2),
    )
    assert {code for code, _ in answers} == {200}, answers
    status = race.sql("SELECT status FROM comments WHERE id = :i", i=held["comment"]["id"])[0][0]
    assert race.total(site, "/b/") == (1 if status == "approved" else 0)
    race.counts_agree()


def test_a_patch_racing_a_delete_leaves_the_comment_deleted(race: Race) -> None:
    site = race.site("patches", banned_words=["casino"])
    comments = [race.post(site, "/c/", f"fine words {n}") for n in range(PARALLEL // 2)]
    jobs: list[Callable[[], Any]] = []
    for posted in comments:
        url = race.url(f"/api/v1/sites/{site.slug}/comments/{posted['comment']['id']}")
        headers = {"Origin": ORIGIN, "X-Edit-Token": posted["edit_token"]}
        # An edit with a banned word would move the comment to the pending queue.
        jobs.append(lambda u=url, h=headers: call("PATCH", u, {"body": "casino night"}, h))
        jobs.append(lambda u=url, h=headers: call("DELETE", u, headers=h))
    answers = together(*jobs)
    for index, posted in enumerate(comments):
        patched, deleted = answers[2 * index][0], answers[2 * index + 1][0]
        assert deleted == 204, answers  # the author may always delete within the window
        assert patched in (200, 403), answers
    ids = [c["comment"]["id"] for c in comments]
    assert sorted(race.queue(site, "deleted")) == sorted(ids)
    assert race.queue(site, "pending") == [] and race.total(site, "/c/") == 0
    race.counts_agree()


def test_parallel_likes_count_each_client_once(race: Race) -> None:
    site = race.site("likes")
    liked = race.post(site, "/d/", "like me")
    url = race.url(f"/api/v1/sites/{site.slug}/comments/{liked['comment']['id']}/like")
    answers = together(*[lambda: call("POST", url, headers={"Origin": ORIGIN})] * PARALLEL)
    assert {code for code, _ in answers} == {200}, answers
    assert max(body["likes"] for _, body in answers) == 1
    assert race.sql("SELECT likes FROM comments WHERE id = :i", i=liked["comment"]["id"]) == [(1,)]
    race.counts_agree()


def test_parallel_rank_batches_announce_one_new_best(race: Race, tmp_path: Path) -> None:
    site = race.site("ranks", webhook_url="http://127.0.0.1:9/hook", rank_events="best")
    url = race.url(f"/api/v1/sites/{site.slug}/categories/consulting")
    assert call("PUT", url, {"labels": {"ja": "コンサル", "en": "Consulting"}}, site.auth)[0] in (
        200,
        201,
    )
    rankings = race.url(f"/api/v1/sites/{site.slug}/rankings")

    def batch(minute: int) -> tuple[int, Any]:
        at = f"2024-01-01T00:{minute:02d}:00Z"
        return call(
            "POST", rankings, {"positions": {"consulting": 3}, "observed_at": at}, site.auth
        )

    answers = together(*[lambda m=m: batch(m) for m in range(PARALLEL)])
    assert {code for code, _ in answers} == {200}, answers
    events = [
        json.loads(payload) if isinstance(payload, str) else payload
        for (payload,) in race.sql("SELECT payload FROM notifications WHERE kind = 'webhook'")
    ]
    best = [e for e in events if e["event"] == "ranking.best"]
    assert len(best) == 1, best
    assert best[0]["position"] == 3 and best[0]["previous_best"] is None
    # A later batch that does not beat 3 announces nothing; one that does, once.
    answers = together(*[lambda m=m: batch(10 + m) for m in range(PARALLEL)])
    assert {code for code, _ in answers} == {200}
    count = race.sql("SELECT count(*) FROM notifications WHERE kind = 'webhook'")[0][0]
    assert count == 1


def test_posts_during_an_import_all_count(race: Race, tmp_path: Path) -> None:
    site = race.site("imports")
    comments = [
        {
            "id": n,
            "body": f"imported {n}",
            "status": "approved",
            "created_at": "2024-01-01T00:00:00Z",
        }
        for n in range(1, 2501)
    ]
    document = {
        "format": "ranklet-export",
        "version": 1,
        "exported_at": "2024-01-02T00:00:00Z",
        "site": {"slug": "elsewhere"},
        "threads": [{"article": "/imported/", "comments": comments}],
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))

    def post(n: int) -> tuple[int, Any]:
        return call(
            "POST",
            race.url(f"/api/v1/sites/{site.slug}/comments"),
            {"article": "/live/", "body": f"live {n}"},
            {"Origin": ORIGIN},
        )

    def run_import() -> str:
        return race.server.cli("import", "json", str(path), "--site", site.slug)

    results = together(run_import, *[lambda n=n: post(n) for n in range(PARALLEL)])
    assert "2500" in results[0] or "2,500" in results[0], results[0]
    answers = results[1:]
    for code, body in answers:  # a post waits for the import, or says plainly it could not
        assert code == 201 or (code == 503 and body["message"]), answers
    posted = sum(code == 201 for code, _ in answers)
    assert posted >= 1
    assert race.total(site, "/live/") == posted
    assert race.total(site, "/imported/") == 2500
    race.counts_agree()
