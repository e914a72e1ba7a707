"""Scale-out on one machine: two ``ranklet serve`` hosts, one PostgreSQL, one Redis, nginx.

nginx runs ``deploy/nginx.conf`` itself, rendered with loopback addresses. The test checks
what running several hosts must not break: a comment posted through one host is visible
through the other at once (the in-process caches are validated against version counters
in the database), the comment rate limit is one budget across hosts (Redis), keyed by the
client nginx saw (``X-Forwarded-For`` with ``RANKLET_TRUSTED_PROXIES=1``, spoofing ignored),
and the service keeps answering through nginx when one host dies.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from support import (
    PgSchema,
    free_port,
    need,
    pg_database_url,
    postgres_available,
    redis_available,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

NGINX = "/usr/sbin/nginx"
TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
REDIS_DB = 5  # never db 0; only keys under this test's own prefix are deleted
ORIGIN = "https://blog.example.com"
# The log format's last fields: "$upstream_addr" "$upstream_status" and the request's id.
UPSTREAM_FIELDS = re.compile(r'"([^"]*)" "([^"]*)" [A-Za-z0-9][A-Za-z0-9._:-]{0,127}$')


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    timeout: float = 10.0,
) -> Answer:
    """One request on a new connection from ``source`` (a loopback address) to ``base``."""
    parts = urlsplit(base)
    assert parts.hostname == "127.0.0.1" and parts.port, base
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    started = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1", parts.port, timeout=timeout, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        content = response.read()
        return Answer(response.status, response.headers, content, time.monotonic() - started)
    finally:
        connection.close()


def post_comment(
    base: str, site: str, article: str, text: str, source: str = "127.0.0.1", **extra: Any
) -> Answer:
    headers = {"Origin": ORIGIN}
    headers.update(extra.pop("headers", {}))
    return call(
        base,
        "POST",
        f"/api/v1/sites/{site}/comments",
        {"article": article, "body": text, **extra},
        headers,
        source,
    )


def widget_path(site: str, article: str) -> str:
    return f"/api/v1/sites/{site}/widget?article={quote(article, safe='')}"


def comment_ids(document: dict[str, Any]) -> set[int]:
    found: set[int] = set()
    stack = list(document["comments"]["comments"])
    while stack:
        item = stack.pop()
        found.add(item["id"])
        stack.extend(item["replies"])
    return found


class Nginx:
    """deploy/nginx.conf rendered for loopback and run in the foreground by its PID."""

    def __init__(self, apps: list[str]) -> None:
        self.apps = apps
        self.port = free_port()
        # mkdtemp, not pytest's tmp_path: nginx's workers run as www-data and must reach the
        # temp folders, and pytest's base folder is private to root.
        self.folder = Path(tempfile.mkdtemp(prefix="rkngx"))
        self.folder.chmod(0o755)
        (self.folder / "temp").mkdir(mode=0o755)
        (self.folder / "logs").mkdir(mode=0o755)
        self.conf = self.folder / "nginx.conf"
        self.log = self.folder / "nginx.stderr"
        self.access_log = self.folder / "logs" / "ranklet-access.log"
        self.conf.write_text(render_template(apps, f"127.0.0.1:{self.port}", self.folder))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start nginx; on another free port when the one found was taken before nginx bound
        it (``free_port`` releases it, and test processes run side by side), twice at most."""
        for moves in range(3):
            try:
                self._start()
                return
            except AssertionError:
                taken = "Address already in use" in self.log.read_text(errors="replace")
                if moves == 2 or not taken or self.running():
                    raise
            self.port = free_port()
            self.conf.write_text(render_template(self.apps, f"127.0.0.1:{self.port}", self.folder))

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _start(self) -> None:
        directives = f"daemon off; pid {self.folder}/nginx.pid; error_log stderr;"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [NGINX, "-c", str(self.conf), "-p", str(self.folder), "-g", directives],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.log.read_text(errors='replace')}")
            try:
                if call(self.base, "GET", "/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"nginx did not come up: {self.log.read_text(errors='replace')}")

    def upstreams_since(self, offset: int) -> list[str]:
        """The $upstream_addr of each request logged after ``offset`` bytes."""
        text = self.access_log.read_text(errors="replace")[offset:]
        return [
            found.group(1) if (found := UPSTREAM_FIELDS.search(line)) else line
            for line in text.splitlines()
        ]

    def log_size(self) -> int:
        try:
            return self.access_log.stat().st_size
        except OSError:
            return 0

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def render_template(apps: list[str], listen: str, folder: Path) -> str:
    """What ``envsubst`` does with deploy/README.md's variable list, for two app hosts."""
    values = {
        "RANKLET_LISTEN": listen,
        "RANKLET_APP_1": apps[0],
        "RANKLET_APP_2": apps[1],
        "RANKLET_NGINX_TEMP": str(folder / "temp"),
        "RANKLET_NGINX_LOGS": str(folder / "logs"),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    left = [line for line in text.splitlines() if "${" in line.split("#", 1)[0]]
    assert not left, f"unrendered template variables: {left}"
    return text


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (gunicorn's workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command may contain spaces and parentheses: fields follow the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def kill_host(process: subprocess.Popen[bytes]) -> None:
    """A host dying: SIGKILL to the gunicorn master and to each of its workers, by PID."""
    workers = children(process.pid)
    process.kill()
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.05)  # orphans are reaped by init; wait until they are gone


def delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_two_hosts_behind_nginx_share_data_and_limits_and_survive_one_dying(start_server):
    need(postgres_available(), "PostgreSQL on 127.0.0.1:5432")
    need(redis_available(), "Redis on 127.0.0.1:6379")
    need(os.access(NGINX, os.X_OK), f"nginx at {NGINX} (apt-get install nginx)")
    started = time.monotonic()
    schema = PgSchema()
    schema.create()
    prefix = f"ranklet-test-{uuid.uuid4().hex[:12]}"
    env = {
        "RANKLET_DATABASE_URL": pg_database_url(schema),
        "RANKLET_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{REDIS_DB}",
        # limits' RedisStorage option: every key this test makes starts with the prefix.
        "RANKLET_RATELIMIT_STORAGE_OPTIONS": json.dumps({"key_prefix": prefix}),
        "RANKLET_COMMENT_RATE_LIMIT": "5/minute",
        "RANKLET_TRUSTED_PROXIES": "1",
        "RANKLET_SECRET_KEY": "one-secret-for-every-host",
        "RANKLET_NOTIFY_WORKER": "false",
    }
    servers = []
    proxy: Nginx | None = None
    try:
        # One after the other: each applies the (same) migrations on start.
        host_a = start_server(workers=2, env=env)
        servers.append(host_a)
        host_b = start_server(workers=2, env=env)
        servers.append(host_b)
        a, b = host_a.base, host_b.base
        site = host_a.create_site("blog", ORIGIN)
        host_b.create_site("limited", ORIGIN)
        proxy = Nginx([a.removeprefix("http://"), b.removeprefix("http://")])
        proxy.start()
        n = proxy.base
        timings = {"servers and nginx up": time.monotonic() - started}

        # --- posted through A, read through B at once: no stale cache anywhere ----------
        article = "/posts/scale-out/"
        before = call(b, "GET", widget_path("blog", article))
        assert before.status == 200 and before.json()["comments"]["total"] == 0
        old_etag = before.headers["ETag"]
        for _ in range(4):  # warm both hosts' caches through nginx, every worker likely
            assert call(n, "GET", widget_path("blog", article)).status == 200

        posted = post_comment(a, "blog", article, "Posted through host A.")
        assert posted.status == 201, posted.body
        new_id = posted.json()["comment"]["id"]

        after = call(b, "GET", widget_path("blog", article), headers={"If-None-Match": old_etag})
        assert after.status == 200, "host B answered 304 for a thread that changed on host A"
        assert new_id in comment_ids(after.json())
        assert after.headers["ETag"] != old_etag
        for _ in range(4):  # through nginx, both hosts and several workers
            through = call(n, "GET", widget_path("blog", article))
            assert through.status == 200 and new_id in comment_ids(through.json())
        counts = call(b, "GET", f"/api/v1/sites/blog/counts?article={quote(article)}")
        assert counts.json()["counts"] == {article: 1}

        # --- many first comments on a brand-new article, through both hosts at once -----
        fresh = "/posts/brand-new/"

        def first_comment(index: int) -> int:
            base = (a, b)[index % 2]
            answer = post_comment(
                base,
                "blog",
                fresh,
                f"first #{index}",
                headers={"Authorization": f"Bearer {site.token}"},
            )
            return answer.status

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(first_comment, range(16)))
        assert statuses == [201] * 16, statuses
        counts = call(n, "GET", f"/api/v1/sites/blog/counts?article={quote(fresh)}")
        assert counts.json()["counts"] == {fresh: 16}

        # --- one rate-limit budget across hosts, keyed by the client nginx saw ----------
        mark = proxy.log_size()
        limited = [
            post_comment(
                n,
                "limited",
                "/posts/limits/",
                f"limited #{i}",
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},  # spoofing changes nothing
            )
            for i in range(8)
        ]
        assert [r.status for r in limited] == [201] * 5 + [429] * 3, [
            (r.status, r.body[:200]) for r in limited
        ]
        assert all(int(r.headers["Retry-After"]) >= 1 for r in limited[5:])
        served_by = Counter(proxy.upstreams_since(mark))
        assert set(served_by) == {a.removeprefix("http://"), b.removeprefix("http://")}, served_by
        # Another client (another loopback source address) has its own budget.
        other = [
            post_comment(n, "limited", "/posts/limits/", f"other #{i}", source="127.0.0.2")
            for i in range(2)
        ]
        assert [r.status for r in other] == [201, 201], [r.body[:200] for r in other]

        # --- host A dies: nginx keeps answering from B ---------------------------------
        kill_host(host_a.process)
        killed_at = time.monotonic()
        mark = proxy.log_size()
        reads = []
        for i in range(12):
            path = (
                widget_path("blog", article)
                if i % 2
                else f"/api/v1/sites/blog/counts?article={quote(fresh)}"
            )
            reads.append(call(n, "GET", path))
        assert [r.status for r in reads] == [200] * 12, [(r.status, r.body[:200]) for r in reads]
        # A refused connection means the post was never sent, so nginx passes it on to B.
        posts = [post_comment(n, "blog", article, f"after the crash #{i}") for i in range(3)]
        assert [r.status for r in posts] == [201] * 3, [(r.status, r.body[:200]) for r in posts]
        upstreams = proxy.upstreams_since(mark)
        assert upstreams and all(u.endswith(b.removeprefix("http://")) for u in upstreams)
        survivor = call(b, "GET", widget_path("blog", article)).json()
        assert {r.json()["comment"]["id"] for r in posts} <= comment_ids(survivor)
        assert max(r.seconds for r in reads + posts) < 3.0
        timings["after the kill"] = time.monotonic() - killed_at
        timings["total"] = time.monotonic() - started
        print("scale-out timings (s):", {k: round(v, 2) for k, v in timings.items()})
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.stop()
        schema.drop()
        delete_redis_keys(prefix)
