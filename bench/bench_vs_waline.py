"""Ranklet next to Waline in one run: the same data, alternating bounded loads, ratios.

What it does (issue 20, item 4), all on 127.0.0.1 and bounded in time:

1. Waline (``@waline/vercel`` 1.39.3 from npm, Node) installed outside the repository in
   ``--waline-dir`` and reused (``waline_side.py``: its own SQLite schema, its OAuth lookup
   answered by a local stub, Akismet off, per-address post interval off, 127.0.0.1 only).
2. The same plan for both (``workload.make_plan``: threads of 20 and 200 comments, 100
   articles with 0 to 5 comments, a thread for the posts): Ranklet through
   ``post_comment``, Waline rows written into its schema.
3. Two set-ups, each a fresh pair of servers: **one process each** (``ranklet serve
   --workers 1``; Waline's one Node process) and **each at its best** (``ranklet serve``
   with its defaults, one worker per core; Waline has no multi-process mode, so its best is
   the same one process).
4. For each figure, a warm-up run per server, then ``--repeat`` runs alternating which
   server goes first; medians of req/s and p99. Figures: the trivial route (``/healthz``;
   Waline ``/``), a page view of the 200-comment thread (each embed's one data request:
   Ranklet ``widget``, Waline ``/api/comment?path=...``), counts of 50 articles and comment
   posts, each post's body unique (Waline refuses identical ones, with HTTP 200, so posts
   are counted as stored in each database, per second of load).
5. ``--idle N`` also runs every Ranklet figure with N idle connections held open to it
   (re-opened as the server closes them), alternated with the runs without, and prints
   what thousands of idle sockets change.
6. Prints the table with ratios, RSS of each side after the loads, and the issue's targets.

    python bench/bench_vs_waline.py                        # 10 s x 3 per figure, ~10 min
    python bench/bench_vs_waline.py --duration 5 --repeat 1 --setups one
    python bench/bench_vs_waline.py --idle 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from idle_sockets import IdleSockets
from load_client import cpu_seconds, rss_mib
from load_result import LoadResult
from load_wrk import VARY_MARK
from loadgen import add_load_arguments, run_load
from serving import Server, clean_env, free_port, ranklet_command, run_in_scratch
from waline_side import (
    DEFAULT_DIR,
    ensure_waline,
    node_version,
    oauth_stub,
    seed_waline,
    stored_posts,
    waline_server,
)
from workload import (
    BLOG_ORIGIN,
    BROWSER_ENCODINGS,
    POST_BODY,
    POSTS_ARTICLE,
    SITE,
    THREAD_200,
    counted_articles,
    make_plan,
    seed_ranklet_site,
)


@dataclass(frozen=True)
class Figure:
    label: str
    ranklet: tuple[str, str, bytes | None]  # method, path, body
    waline: tuple[str, str, bytes | None]
    read: bool = True


@dataclass
class Runs:
    runs: list[LoadResult] = field(default_factory=list)
    stored: list[float] = field(default_factory=list)  # posts stored per second
    cpu_us: list[float] = field(default_factory=list)  # server CPU per answer, all processes

    def rates(self) -> list[float]:
        """Each run's figure: posts stored per second, or answers per second."""
        return list(self.stored) if self.stored else [r.rps for r in self.runs]

    def rps(self) -> float:
        rates = self.rates()
        return statistics.median(rates) if rates else 0.0

    def cpu(self) -> float:
        return statistics.median(self.cpu_us) if self.cpu_us else 0.0

    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs) if self.runs else 0.0


def figures(articles: list[str]) -> list[Figure]:
    ranklet_post = {"article": POSTS_ARTICLE, "author": "Bench", "body": f"{POST_BODY} {VARY_MARK}"}
    waline_post = {
        "comment": f"{POST_BODY} {VARY_MARK}",
        "nick": "Bench",
        "mail": "",
        "link": "",
        "url": POSTS_ARTICLE,
        "ua": "bench",
    }
    counts = urlencode([("article", a) for a in articles])
    page = {
        "path": THREAD_200,
        "pageSize": 10,
        "page": 1,
        "lang": "en",
        "sortBy": "insertedAt_desc",
    }
    return [
        Figure("trivial route (/healthz; Waline /)", ("GET", "/healthz", None), ("GET", "/", None)),
        Figure(
            "page view, 200-comment thread",
            ("GET", f"/api/v1/sites/{SITE}/widget?{urlencode({'article': THREAD_200})}", None),
            ("GET", f"/api/comment?{urlencode(page)}", None),
        ),
        Figure(
            f"counts of {len(articles)} articles",
            ("GET", f"/api/v1/sites/{SITE}/counts?{counts}", None),
            (
                "GET",
                f"/api/comment?{urlencode({'type': 'count', 'url': ','.join(articles)})}",
                None,
            ),
        ),
        Figure(
            "comment posts (stored/s)",
            ("POST", f"/api/v1/sites/{SITE}/comments", json.dumps(ranklet_post).encode()),
            ("POST", "/api/comment?lang=en", json.dumps(waline_post).encode()),
            read=False,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, duration=10.0, each="run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; medians (3)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per figure")
    parser.add_argument("--waline-dir", type=Path, default=DEFAULT_DIR, help="Waline's install")
    parser.add_argument("--setups", choices=("one", "best", "both"), default="both")
    parser.add_argument("--idle", type=int, default=0, help="idle sockets held to each server")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    return run_in_scratch("ranklet-vs-waline-", args.keep, lambda work: compare(args, work))


def compare(args: argparse.Namespace, work: Path) -> int:
    version = ensure_waline(args.waline_dir)
    plan = make_plan()
    plan["threads"] = [t for t in plan["threads"] if len(t["comments"]) < 1000]
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    env = clean_env(work / "ranklet", RANKLET_COMMENT_RATE_LIMIT="", RANKLET_NOTIFY_WORKER="false")
    seed_ranklet_site(env, plan_path)
    seeded = seed_waline(args.waline_dir, work / "waline", plan)
    articles, _ = counted_articles(plan)
    print(f"Waline {version} on Node {node_version()}; {seeded} comments each", flush=True)
    setups = {"one": [("one process each", 1)], "best": [("each at its best", None)]}
    chosen = setups["one"] + setups["best"] if args.setups == "both" else setups[args.setups]
    out: dict[str, object] = {"waline": version, "load average": os.getloadavg()}
    stub = oauth_stub(work).start().wait_ready()
    try:
        for title, workers in chosen:
            out[title] = measure_setup(args, work, env, stub.port, title, workers, articles)
    finally:
        stub.stop()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


def measure_setup(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    stub_port: int,
    title: str,
    workers: int | None,
    articles: list[str],
) -> dict[str, object]:
    port = free_port()
    command = ranklet_command("serve", port, workers or 1)
    if workers is None:  # its defaults: workers and threads sized by `ranklet serve`
        command = command[: command.index("--workers")]
    ranklet = Server("ranklet", command, port, env, work / "ranklet.log")
    waline = waline_server(args.waline_dir, work / "waline", stub_port, work / "waline.log")
    servers = {"ranklet": ranklet, "waline": waline}
    # (name, server, idle sockets held during its runs); with --idle, Ranklet runs both ways,
    # its two runs next to each other in every round (the order reverses between rounds), so
    # that each pair meets the same host and the crowd's effect is read pair by pair
    entries = [("ranklet", ranklet, 0), ("waline", waline, 0)]
    if args.idle:
        entries.insert(1, ("ranklet+idle", ranklet, args.idle))
    results = {(f.label, name): Runs() for f in figures(articles) for name, _, _ in entries}
    try:
        for server in servers.values():
            server.start().wait_ready(limit=90)
        for figure in figures(articles):
            for name, server in servers.items():
                one_run(server, getattr(figure, name), args.warmup, args)  # warm-up
            for repeat in range(args.repeat):
                order = entries if repeat % 2 == 0 else entries[::-1]
                for name, server, idle in order:
                    side = name.split("+")[0]
                    method, path, body = getattr(figure, side)
                    before = stored(side, work) if not figure.read else 0
                    crowd = IdleSockets(server.port, idle).start() if idle else None
                    try:
                        if crowd is not None:
                            time.sleep(1.0)  # all of them connected before the load
                        pids = [server.pid, *server.workers()]
                        began = cpu_seconds(pids)
                        result = one_run(server, (method, path, body), args.duration, args)
                        used = cpu_seconds(pids) - began
                    finally:
                        if crowd is not None:
                            crowd.stop()
                    measured = results[(figure.label, name)]
                    measured.runs.append(result)
                    measured.cpu_us.append(used / max(1, result.requests) * 1e6)
                    if not figure.read:
                        measured.stored.append((stored(side, work) - before) / result.duration_s)
                    print(
                        f"  [{title}] {figure.label} {name}: {result.rps:.0f} req/s, "
                        f"p99 {result.p99_ms:.1f} ms {dict(result.statuses)}",
                        flush=True,
                    )
        memory = {  # every process of each: gunicorn's master and workers, Node's two
            name: sum(rss_mib(pid) or 0.0 for pid in [server.pid, *server.workers()])
            for name, server in servers.items()
        }
        print_table(title, figures(articles), results, memory, workers)
        if args.idle:
            print_idle(args.idle, figures(articles), results)
    finally:
        for server in servers.values():
            server.stop()
    return {
        "figures": {
            f"{label} / {name}": {"rps": r.rps(), "p99_ms": r.p99()}
            for (label, name), r in results.items()
        },
        "rss_mib": memory,
    }


def one_run(
    server: Server, route: tuple[str, str, bytes | None], seconds: float, args: argparse.Namespace
) -> LoadResult:
    method, path, body = route
    headers = {"Origin": BLOG_ORIGIN, "Accept-Encoding": BROWSER_ENCODINGS}
    if body is not None:
        headers["Content-Type"] = "application/json"
    result = run_load(
        server.url(path),
        method=method,
        body=body,
        headers=headers,
        connections=args.connections,
        duration=seconds,
        tool="wrk",
        vary=body is not None,
    )
    time.sleep(0.5)  # let the server finish what the client left in flight
    return result


def stored(name: str, work: Path) -> int:
    if name == "waline":
        return stored_posts(work / "waline", POSTS_ARTICLE)
    import sqlite3

    db = sqlite3.connect(f"file:{work / 'ranklet' / 'ranklet.db'}?mode=ro", uri=True, timeout=30)
    try:
        query = (
            "SELECT COUNT(*) FROM comments c JOIN threads t ON c.thread_id = t.id "
            "WHERE t.article = ?"
        )
        return int(db.execute(query, (POSTS_ARTICLE,)).fetchone()[0])
    finally:
        db.close()


def print_table(
    title: str,
    rows: list[Figure],
    results: dict[tuple[str, str], Runs],
    memory: dict[str, float],
    workers: int | None,
) -> None:
    print(f"\n## {title} (Ranklet workers: {workers or 'default'})\n")
    print("| figure | Ranklet req/s | p99 ms | Waline req/s | p99 ms | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    targets = []
    for figure in rows:
        ours, theirs = results[(figure.label, "ranklet")], results[(figure.label, "waline")]
        ratio = ours.rps() / theirs.rps() if theirs.rps() else float("inf")
        print(
            f"| {figure.label} | {ours.rps():,.0f} | {ours.p99():.1f} | {theirs.rps():,.0f} | "
            f"{theirs.p99():.1f} | {ratio:.2f}x |"
        )
        if not figure.label.startswith("trivial"):
            targets.append((f"{figure.label}: Ranklet >= 2x Waline", ratio >= 2))
        if figure.read and not figure.label.startswith("trivial"):
            targets.append((f"{figure.label}: Ranklet p99 < 20 ms", ours.p99() < 20))
    print(f"| memory (RSS MiB, all processes, after the loads) | {memory['ranklet']:.0f} | | "
          f"{memory['waline']:.0f} | | |")  # fmt: skip
    if workers == 1:
        print()
        for text, met in targets:
            print(f"- [{'x' if met else ' '}] {text}")
    print(flush=True)


def print_idle(count: int, rows: list[Figure], results: dict[tuple[str, str], Runs]) -> None:
    """Req/s move with whatever else shares the CPUs (the crowd's own client included);
    the server's CPU per answer is the steadier figure of what the crowd costs it. "Paired"
    is the median, over rounds, of each round's two adjacent runs' ratio (with its range):
    the host's drift between rounds cancels there, not in the ratio of the medians."""
    print(f"Ranklet with {count:,} idle sockets held open during its runs, against without:\n")
    print(
        "| figure | without req/s | p99 ms | CPU µs/answer | with req/s | p99 ms "
        "| CPU µs/answer | req/s with / without | paired (range) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for figure in rows:
        calm, crowded = results[(figure.label, "ranklet")], results[(figure.label, "ranklet+idle")]
        ratio = crowded.rps() / calm.rps() if calm.rps() else 0.0
        pairs = [b / a for a, b in zip(calm.rates(), crowded.rates(), strict=False) if a]
        paired = (
            f"{statistics.median(pairs):.2f} ({min(pairs):.2f} to {max(pairs):.2f})"
            if pairs
            else "-"
        )
        print(
            f"| {figure.label} | {calm.rps():,.0f} | {calm.p99():.1f} | {calm.cpu():,.0f} "
            f"| {crowded.rps():,.0f} | {crowded.p99():.1f} | {crowded.cpu():,.0f} | {ratio:.2f} "
            f"| {paired} |"
        )
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
