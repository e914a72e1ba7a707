"""``ranklet serve``: a real gunicorn with two workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from defusedxml import ElementTree

pytestmark = pytest.mark.slow

SVG = "{http://www.w3.org/2000/svg}"


def fetch(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request to the loopback server; HTTP errors are answers, not exceptions."""
    assert url.startswith("http://127.0.0.1:")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_concurrent_recording_through_two_workers(start_server, server_database):
    server = start_server(workers=2, env=server_database)
    site = server.create_site("blog")
    url = f"{server.base}/api/v1/sites/blog/rankings"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    def post(index: int) -> tuple[int, bytes]:
        body = {
            "positions": {"consulting": index + 1, "marketing": 100 - index},
            "observed_at": (start + timedelta(minutes=index)).isoformat(),
        }
        status, _, content = fetch(url, "POST", body, site.auth)
        return status, content

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(post, range(50)))
    failures = [(status, content[:300]) for status, content in results if status != 200]
    assert not failures, failures
    for _, content in results:
        assert json.loads(content)["site"] == "blog"

    status, _, content = fetch(
        f"{server.base}/api/v1/sites/blog/rankings/consulting/history?limit=1000"
    )
    assert status == 200
    entries = json.loads(content)["entries"]
    assert len(entries) == 50
    assert sorted(e["position"] for e in entries) == list(range(1, 51))
    assert [e["position"] for e in entries] == list(range(1, 51))  # oldest first
    assert len({e["id"] for e in entries}) == 50

    status, _, content = fetch(f"{server.base}/api/v1/sites/blog/rankings?lang=en")
    document = json.loads(content)
    consulting, _, marketing = document["categories"]
    assert consulting["entries"] == 50
    assert consulting["best"]["position"] == 1
    assert consulting["current"]["position"] == 50
    assert marketing["entries"] == 50
    assert marketing["best"]["position"] == 51
    assert marketing["best"]["observed_at"].endswith("Z")


def test_badge_through_the_real_server(start_server, server_database):
    server = start_server(workers=2, env=server_database)
    site = server.create_site("blog")
    server.cli("rank", "set", "blog", "consulting", "4")
    assert site.token

    status, headers, content = fetch(f"{server.base}/badge/blog/consulting.svg")
    assert status == 200
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert "max-age=" in headers["Cache-Control"]
    root = ElementTree.fromstring(content)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "コンサルタントランキング | 4位（最高順位）"
    assert root.get("aria-label") == title.text

    status, _, content = fetch(
        f"{server.base}/badge/blog/consulting.svg", headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 304
    assert content == b""

    status, headers, content = fetch(f"{server.base}/badge/blog/consulting/history.svg?lang=en")
    assert status == 200
    assert ElementTree.fromstring(content).get("role") == "img"

    status, headers, content = fetch(f"{server.base}/badge/blog/nosuch.svg?lang=en")
    assert status == 404
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert "unknown category" in content.decode()
