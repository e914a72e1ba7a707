"""A killed ``ranklet import`` leaves nothing behind: no helper process, no held lock, no
open transaction.

An import forks render workers while it holds the SQLite write gate (or a PostgreSQL
transaction). Killed the way an OOM killer, ``timeout``, ``docker stop`` or systemd kills
(SIGKILL, SIGTERM), its workers used to survive with copies of both, and every write on
the live server answered 503 (or hung on PostgreSQL) until someone killed them by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import Server, post_json

ORIGIN = "https://blog.example.com"
COMMENTS = 60_000


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def big_export(path: Path) -> Path:
    """One thread of many comments, each with some Markdown to render."""
    body = "**bold** and _soft_ words, a [link](https://example.com/x) and `code`. " * 4
    comments = [
        {
            "id": n,
            "body": f"{body} {n}",
            "status": "approved",
            "created_at": "2024-01-01T00:00:00Z",
        }
        for n in range(1, COMMENTS + 1)
    ]
    path.write_text(
        json.dumps(
            {
                "format": "ranklet-export",
                "version": 1,
                "exported_at": "2024-01-02T00:00:00Z",
                "site": {"slug": "elsewhere"},
                "threads": [{"article": "/imported/", "comments": comments}],
            }
        )
    )
    return path


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_import_leaves_no_helper_and_the_server_writes_at_once(
    how: signal.Signals,
    start_server: Callable[..., Server],
    server_database: dict[str, str],
    tmp_path: Path,
) -> None:
    server = start_server(workers=1, env={**server_database, "RANKLET_COMMENT_RATE_LIMIT": ""})
    site = server.create_site("killed")
    source = big_export(tmp_path / "big.json")
    importer = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "import", "json", str(source), "--site", "killed"],
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        helpers: list[int] = []
        while time.monotonic() < deadline and importer.poll() is None:
            helpers = children_of(importer.pid)
            if len(helpers) >= 2:  # the render workers are forked: the gate is held
                break
            time.sleep(0.05)
        assert len(helpers) >= 2, "the import never forked its render workers"
        time.sleep(0.5)
        assert importer.poll() is None, "the import ended before it could be killed"
        importer.send_signal(how)
        importer.wait(timeout=10)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(alive(pid) for pid in helpers):
            time.sleep(0.05)
        survivors = [pid for pid in helpers if alive(pid)]
        assert survivors == [], f"helpers outlived the killed import: {survivors}"
        started = time.monotonic()
        for article in ("/imported/", "/live/"):  # the thread the import was writing, too
            status, answer = post_json(
                server.url(f"/api/v1/sites/{site.slug}/comments"),
                {"article": article, "body": "written right after the kill"},
                {"Origin": ORIGIN},
            )
            assert status == 201, answer
            assert answer["comment"]["body_html"] == "<p>written right after the kill</p>\n"
        assert time.monotonic() - started < 2.5
        with_import = json.loads(
            server.cli("export", site.slug)
        )  # nothing of the killed import was kept
        imported = [t for t in with_import["threads"] if t["article"] == "/imported/"]
        assert [len(t["comments"]) for t in imported] == [1]
    finally:
        for pid in helpers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
