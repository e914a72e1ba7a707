"""The load client of bench_vs_isso: bounded runs, the drain after each, memory and checks.

A compared service is a ``serving.Server`` with the cheapest route to probe whether it has
worked through what a run left queued; after a run it must go idle (its CPU time, read
from /proc, stops growing) or it is restarted, so a row never poisons the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import os
import sqlite3
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import brotli
from load_result import LoadResult
from loadgen import run_load
from serving import Server, request
from workload import POSTS_ARTICLE, SITE, Route

WORKERS = 2


@dataclass
class Service(Server):
    """A compared service: ``probe`` is its cheapest route (/healthz, /info)."""

    probe: str = "/healthz"
    restarts: int = 0

    def wait_ready(self, limit: float = 90, workers: int = WORKERS) -> Service:
        """Ready, and with all its gunicorn workers running."""
        super().wait_ready(limit, workers)
        return self


# --- /proc --------------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(server: Service, limit: float) -> float | None:
    """Seconds until the server has worked through what a run left behind; None: not in time.

    A sync worker keeps processing the requests a load generator abandoned in the listen
    queue: a probe of its cheapest route only comes back once those ahead of it are done.
    Then master and workers must use under 20 % of one CPU for two half-seconds in a row.
    """
    began = time.monotonic()
    try:
        request(server.port, "GET", server.probe, timeout=limit)
    except (OSError, http.client.HTTPException):
        return None
    quiet = 0
    pids = [server.pid, *server.workers()]
    last = cpu_seconds(pids)
    while time.monotonic() - began < limit:
        time.sleep(0.5)
        now_pids = [server.pid, *server.workers()]
        now = cpu_seconds(now_pids)
        quiet = quiet + 1 if now_pids == pids and now - last < 0.1 else 0
        if quiet >= 2:
            return time.monotonic() - began
        pids, last = now_pids, now
    return None


@dataclass
class Measured:
    runs: list[LoadResult] = field(default_factory=list)
    drains: list[float | None] = field(default_factory=list)
    answer_bytes: int = 0

    def median(self, name: str) -> float:
        values = [getattr(r, name) for r in self.runs if r.requests]
        return statistics.median(values) if values else 0.0

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else 0.0

    @property
    def unexpected(self) -> int:
        """Errors and answers that are not 2xx (wrk: not 2xx/3xx)."""
        return sum(
            result.error_count
            + sum(n for status, n in result.statuses.items() if not status.startswith("2"))
            for result in self.runs
        )

    @property
    def tool(self) -> str:
        return self.runs[0].tool if self.runs else "-"


def load(server: Service, route: Route, args: argparse.Namespace, measured: Measured) -> None:
    result = run_load(
        server.url(route.path),
        method=route.method,
        body=route.body,
        headers=dict(route.headers),
        connections=args.connections,
        duration=args.duration,
        tool=route.tool,
        timeout=route.timeout,
    )
    drained = wait_idle(server, args.drain_limit)
    measured.runs.append(result)
    measured.drains.append(drained)
    drain = f"idle after {drained:.1f} s" if drained is not None else "not idle: restarted"
    if drained is None:
        # Requests the client gave up on are still queued: a fresh server, not a poisoned
        # next row. The memory figures then say that its workers were replaced.
        server.stop()
        server.restarts += 1
        server.start().wait_ready()
    print(
        f"  {server.name:<7} {route.method} {route.path[:70]}: {result.rps:.1f} req/s, "
        f"p99 {result.p99_ms:.1f} ms, {result.requests} answers"
        f"{', errors ' + str(result.errors) if result.errors else ''}; {drain}",
        flush=True,
    )


class MemorySampler:
    """RSS of each service's workers every half second while it runs: the peak."""

    def __init__(self, servers: list[Service]) -> None:
        self.servers = servers
        self.peak: dict[str, float] = {s.name: 0.0 for s in servers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for server in self.servers:
                total = sum(rss_mib(pid) or 0.0 for pid in server.workers())
                self.peak[server.name] = max(self.peak[server.name], total)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def memory(server: Service) -> dict[int, float]:
    return {pid: rss_mib(pid) or 0.0 for pid in server.workers()}


# --- checks before the load ---------------------------------------------------------------


def decoded(body: bytes, encoding: str) -> bytes:
    """A body as sent with ``Content-Encoding: encoding`` (gzip, br or none), decoded."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    if encoding != "identity":
        raise RuntimeError(f"unexpected Content-Encoding {encoding!r}")
    return body


def check(server: Service, route: Route) -> int:
    """One request as the load will send it; its answer must be the expected one."""
    status, headers, wire = request(
        server.port, route.method, route.path, route.body, dict(route.headers), timeout=300
    )
    body = decoded(wire, headers.get("Content-Encoding", "identity"))
    if status != route.expect:
        raise RuntimeError(
            f"{server.name} {route.method} {route.path} answered {status}: {body[:300]!r}"
        )
    if route.verify is not None:
        problem = route.verify(json.loads(body))
        if problem:
            raise RuntimeError(f"{server.name} {route.method} {route.path}: {problem}")
    return len(wire)  # bytes on the wire: compressed when the service compresses


def stored_posts(kind: str, db_path: Path) -> int:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        if kind == "ranklet":
            query = (
                "SELECT COUNT(*) FROM comments c JOIN threads t ON c.thread_id = t.id "
                "JOIN sites s ON t.site_id = s.id WHERE s.slug = ? AND t.article = ?"
            )
            return int(con.execute(query, (SITE, POSTS_ARTICLE)).fetchone()[0])
        query = "SELECT COUNT(*) FROM comments c JOIN threads t ON c.tid = t.id WHERE t.uri = ?"
        return int(con.execute(query, (POSTS_ARTICLE,)).fetchone()[0])
    finally:
        con.close()


def two_xx(measured: Measured) -> int:
    return sum(n for r in measured.runs for k, n in r.statuses.items() if k.startswith("2"))


# --- the embed ----------------------------------------------------------------------------


def sizes(raw: bytes) -> dict[str, int]:
    return {
        "raw": len(raw),
        "gzip": len(gzip.compress(raw, compresslevel=9, mtime=0)),
        "brotli": len(brotli.compress(raw, quality=11)),
    }


def embed_bytes(server: Service, paths: list[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for path in paths:
        status, headers, body = request(server.port, "GET", path, headers={})
        if status != 200:
            raise RuntimeError(f"{server.name} GET {path} answered {status}")
        if headers.get("Content-Encoding", "identity") != "identity":
            raise RuntimeError(f"{server.name} GET {path} was encoded without Accept-Encoding")
        found[path] = sizes(body)
        _, served_headers, served = request(
            server.port, "GET", path, headers={"Accept-Encoding": "gzip, deflate, br"}
        )
        found[path]["served"] = len(served)
        found[path]["served_encoding"] = served_headers.get("Content-Encoding", "identity")  # type: ignore[assignment]
    total = {k: sum(int(v[k]) for v in found.values()) for k in ("raw", "gzip", "brotli", "served")}
    found["total"] = total
    return found
