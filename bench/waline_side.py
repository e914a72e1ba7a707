"""Waline's side of bench_vs_waline: install (outside the repository), seed, stub, serve.

Waline (``@waline/vercel`` from npm, Node) runs as shipped, with what keeps it off the
network (see /work/shared/STACK-NOTES.md):

- its SQLite schema is Waline's own ``assets/waline.sqlite.sql`` (from its repository; the
  npm package does not ship it), expected beside the install as ``waline.sqlite.sql``;
- its per-request OAuth lookup (``OAUTH_URL``) is answered by a tiny local Node stub;
- ``AKISMET_KEY=false`` stops its spam check's cloud call on each post;
- ``IPQPS=0`` lifts its per-address post interval (the load comes from one address);
- a ``config.js`` beside ``vanilla.js`` makes it listen on 127.0.0.1 only.

Nothing of Waline enters this repository: the install lives in ``--waline-dir``
(``/work/peers/waline`` by default) and is reused by every run.
"""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving import REPO, Server, free_port, run

WALINE_PACKAGE = "@waline/vercel@1.39.3"
DEFAULT_DIR = Path("/work/peers/waline")
SCHEMA_NAME = "waline.sqlite.sql"
SCHEMA_SOURCE = "https://github.com/walinejs/waline/blob/main/assets/waline.sqlite.sql"
STUB = (
    "require('http').createServer((q, s) => {"
    " s.setHeader('content-type', 'application/json'); s.end('{\"services\":[]}'); })"
    ".listen(Number(process.argv[1]), '127.0.0.1');"
)


def package_dir(peer: Path) -> Path:
    return peer / "node_modules" / "@waline" / "vercel"


def ensure_waline(peer: Path) -> str:
    """Waline installed in ``peer`` (npm, once), listening on 127.0.0.1: its version."""
    peer = peer.resolve()
    if peer == REPO or REPO in peer.parents:
        raise ValueError(f"install Waline outside the repository, not in {peer}")
    if not (package_dir(peer) / "vanilla.js").exists():
        peer.mkdir(parents=True, exist_ok=True)
        print(f"installing {WALINE_PACKAGE} into {peer} (npm)", flush=True)
        run(["npm", "init", "-y"], cwd=peer)
        run(["npm", "install", WALINE_PACKAGE, "--no-audit", "--no-fund"], cwd=peer, timeout=900)
    if not (peer / SCHEMA_NAME).exists():
        raise RuntimeError(f"put Waline's SQLite schema ({SCHEMA_SOURCE}) at {peer / SCHEMA_NAME}")
    config = package_dir(peer) / "config.js"
    wanted = "module.exports = { host: '127.0.0.1' };\n"
    if not config.exists() or config.read_text() != wanted:
        config.write_text(wanted)
    version = run(["node", "-p", "require('./package.json').version"], cwd=package_dir(peer))
    return version.strip()


def seed_waline(peer: Path, folder: Path, plan: dict[str, Any]) -> int:
    """Waline's database from its own schema, holding the plan's comments (all approved)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "waline.sqlite")
    try:
        db.executescript((peer / SCHEMA_NAME).read_text())
        total = 0
        for thread in plan["threads"]:
            ids: dict[int, int] = {}
            for comment in thread["comments"]:
                when = datetime.fromtimestamp(comment["created"], UTC).strftime("%Y-%m-%d %H:%M:%S")
                parent = ids.get(comment["parent"]) if comment["parent"] is not None else None
                cursor = db.execute(
                    'INSERT INTO wl_Comment (comment, "insertedAt", ip, link, mail, nick, rid, '
                    'pid, status, "like", ua, url, "createdAt", "updatedAt") '
                    "VALUES (?, ?, ?, '', '', ?, ?, ?, 'approved', 0, 'bench', ?, ?, ?)",
                    (
                        comment["body"],
                        when,
                        comment["address"],
                        comment["author"],
                        parent,
                        parent,
                        thread["article"],
                        when,
                        when,
                    ),
                )
                ids[comment["key"]] = int(cursor.lastrowid or 0)
                total += 1
        db.commit()
        return total
    finally:
        db.close()


def stored_posts(folder: Path, article: str) -> int:
    db = sqlite3.connect(f"file:{folder / 'waline.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        query = "SELECT COUNT(*) FROM wl_Comment WHERE url = ?"
        return int(db.execute(query, (article,)).fetchone()[0])
    finally:
        db.close()


def oauth_stub(work: Path) -> Server:
    """The answer Waline's OAuth lookup wants (no services), from 127.0.0.1."""
    port = free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    return Server(
        "oauth-stub", ["node", "-e", STUB, str(port)], port, env, work / "stub.log", ready="/"
    )


def waline_server(peer: Path, folder: Path, stub_port: int, log: Path) -> Server:
    port = free_port()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder),
        "SQLITE_PATH": str(folder),
        "JWT_TOKEN": "bench-jwt-token",
        "OAUTH_URL": f"http://127.0.0.1:{stub_port}",
        "AKISMET_KEY": "false",
        "IPQPS": "0",
        "NODE_ENV": "production",
    }
    command = ["node", str(package_dir(peer) / "vanilla.js"), str(port)]
    return Server("waline", command, port, env, log, cwd=package_dir(peer), ready="/")


def node_version() -> str:
    done = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"
