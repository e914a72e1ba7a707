"""Hot-read latency and throughput of one worker: code trees side by side, SQLite and PostgreSQL.

Issue 20 asks one worker to keep its read p99 under 20 ms at wrk 16 connections and
PostgreSQL's hot reads at 0.8x SQLite's or better. This measures exactly that, for any
number of code trees at once (``--code NAME=PATH``: ``ranklet serve`` run with
``PYTHONPATH=PATH``, so main's code and a branch's can be compared in one run):

1. The same data in each database (``workload.make_plan`` without its 2,000-comment
   thread): a SQLite file, and with ``--postgres URL`` a fresh schema there (dropped at
   the end).
2. One ``ranklet serve --workers 1`` per (code, database), all started at once (idle ones
   cost nothing), each warmed up on every figure.
3. Per figure, ``--repeat`` rounds; each round loads every server in turn with wrk (16
   connections by default), the order rotating between rounds, so that whatever else runs
   on the machine weighs on all of them alike. Medians of req/s, p50, p99 and the worker's
   CPU per answer (``/proc``).
4. Prints each figure's table, each code's ratio to the first one, and PostgreSQL / SQLite.

    python bench/bench_read_latency.py --code old=/work/main --code new=. \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from load_client import cpu_seconds
from load_result import LoadResult
from load_wrk import VARY_MARK
from loadgen import run_load
from serving import Server, clean_env, free_port, ranklet_command, run_in_scratch
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


@dataclass
class Runs:
    runs: list[LoadResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def median(self, name: str) -> float:
        if name == "cpu_us":
            return statistics.median(self.cpu_us) if self.cpu_us else 0.0
        return statistics.median(getattr(r, name) for r in self.runs) if self.runs else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a code tree to serve (PYTHONPATH); repeat to compare; default: this checkout",
    )
    parser.add_argument("--postgres", help="also PostgreSQL at this SQLAlchemy URL")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per figure (3)")
    parser.add_argument("-c", "--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=1, help="workers per server (1)")
    parser.add_argument(
        "--figures",
        default="widget,counts",
        help="widget (200 comments), widget-20, widget-2000, counts, healthz, posts "
        "(comma separated; posts: 201s per second)",
    )
    parser.add_argument("--json", type=Path, help="also write the medians to this file")
    args = parser.parse_args()
    return run_in_scratch("ranklet-latency-", False, lambda work: measure(args, work))


@dataclass(frozen=True)
class Code:
    path: Path
    env: dict[str, str]
    serve_args: list[str]


def codes(args: argparse.Namespace) -> dict[str, Code]:
    """``NAME=PATH[;VAR=VALUE...][;--option=VALUE...]``: a code tree, with environment
    variables and ``ranklet serve`` options of its own (a set-up to compare)."""
    chosen: dict[str, Code] = {}
    for item in args.code or [f"this={Path(__file__).resolve().parent.parent}"]:
        name, _, rest = item.partition("=")
        path, *extras = rest.split(";")
        env = dict(e.split("=", 1) for e in extras if not e.startswith("--"))
        options = [part for e in extras if e.startswith("--") for part in e.split("=", 1)]
        chosen[name] = Code(Path(path or name).resolve(), env, options)
    return chosen


def psql(url: str, sql: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    subprocess.run(["psql", "-q", plain, "-c", sql], check=True, capture_output=True)


def measure(args: argparse.Namespace, work: Path) -> int:
    plan = make_plan()
    if "widget-2000" not in args.figures.split(","):
        plan["threads"] = [t for t in plan["threads"] if len(t["comments"]) < 1000]
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    articles, _ = counted_articles(plan)
    base = {"RANKLET_COMMENT_RATE_LIMIT": "", "RANKLET_NOTIFY_WORKER": "false"}
    databases: dict[str, dict[str, str]] = {}
    if not args.no_sqlite:
        databases["sqlite"] = clean_env(work / "sqlite", **base)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        psql(args.postgres, f"CREATE SCHEMA {schema}")
        joiner = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{joiner}options={quote(f'-csearch_path={schema}')}"
        databases["postgres"] = clean_env(work / "postgres", RANKLET_DATABASE_URL=url, **base)
    try:
        for env in databases.values():
            seed_ranklet_site(env, plan_path)
        return compare(args, work, databases, articles)
    finally:
        if args.postgres:
            psql(args.postgres, f"DROP SCHEMA {schema} CASCADE")


def compare(
    args: argparse.Namespace, work: Path, databases: dict[str, dict[str, str]], articles: list[str]
) -> int:
    all_figures = {
        "healthz": "/healthz",
        "widget": f"/api/v1/sites/{SITE}/widget?{urlencode({'article': THREAD_200})}",
        **{
            f"widget-{size}": f"/api/v1/sites/{SITE}/widget?"
            + urlencode({"article": f"/bench/thread-{size}"})
            for size in (20, 2000)
        },
        "counts": f"/api/v1/sites/{SITE}/counts?{urlencode([('article', a) for a in articles])}",
    }
    all_figures["posts"] = f"/api/v1/sites/{SITE}/comments"
    post = {"article": POSTS_ARTICLE, "author": "Bench", "body": f"{POST_BODY} {VARY_MARK}"}
    post_body = json.dumps(post).encode()
    figures = {name: all_figures[name] for name in args.figures.split(",")}
    servers: dict[tuple[str, str], Server] = {}
    for code, spec in codes(args).items():
        path = spec.path
        for db, env in databases.items():
            port = free_port()
            server_env = {**env, **spec.env, "PYTHONPATH": str(path)}
            command = ranklet_command("serve", port, args.workers) + spec.serve_args
            log = work / f"{code}-{db}.log"
            # cwd too: `python -m` puts the working folder before PYTHONPATH
            servers[(code, db)] = Server(f"{code}/{db}", command, port, server_env, log, cwd=path)
    headers = {"Origin": BLOG_ORIGIN, "Accept-Encoding": BROWSER_ENCODINGS}
    results = {(f, key): Runs() for f in figures for key in servers}
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready(limit=90, workers=args.workers)
        for figure, path in figures.items():
            posting = figure == "posts"
            load = {
                "method": "POST" if posting else "GET",
                "body": post_body if posting else None,
                "headers": {**headers, "Content-Type": "application/json"} if posting else headers,
                "vary": posting,
                "tool": "wrk",
            }
            for server in servers.values():
                run_load(server.url(path), duration=args.warmup, **load)  # type: ignore[arg-type]
            keys = list(servers)
            for round_ in range(args.repeat):
                shift = round_ % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    server = servers[key]
                    pids = server.workers()
                    began = cpu_seconds(pids)
                    result = run_load(
                        server.url(path),
                        connections=args.connections,
                        duration=args.duration,
                        **load,  # type: ignore[arg-type]
                    )
                    used = cpu_seconds(pids) - began
                    results[(figure, key)].runs.append(result)
                    results[(figure, key)].cpu_us.append(used / max(1, result.requests) * 1e6)
                    print(
                        f"  {figure} {server.name}: {result.rps:.0f} req/s, p50 "
                        f"{result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                        f"{used / max(1, result.requests) * 1e6:.0f} µs CPU/answer "
                        f"{dict(result.statuses)}",
                        flush=True,
                    )
                    time.sleep(0.3)
    finally:
        for server in servers.values():
            server.stop()
    report(args, figures, servers, results)
    return 0


def report(
    args: argparse.Namespace,
    figures: dict[str, str],
    servers: dict[tuple[str, str], Server],
    results: dict[tuple[str, tuple[str, str]], Runs],
) -> None:
    code_names = list(dict.fromkeys(code for code, _ in servers))
    db_names = list(dict.fromkeys(db for _, db in servers))
    print(
        f"\none worker per server x {args.workers}, wrk {args.connections} connections, "
        f"{args.duration:g} s x {args.repeat}, medians\n"
    )
    # The best run too: on a shared machine another job's burst can halve one run's req/s,
    # and with few rounds it decides the median.
    print(
        "| figure | code | database | req/s | best req/s | p50 ms | p99 ms | µs worker CPU/answer |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    out: dict[str, dict[str, float]] = {}
    for figure in figures:
        for key in servers:
            runs = results[(figure, key)]
            row = {m: runs.median(m) for m in ("rps", "p50_ms", "p99_ms", "cpu_us")}
            row["best_rps"] = max((r.rps for r in runs.runs), default=0.0)
            out[f"{figure} / {key[0]} / {key[1]}"] = row
            print(
                f"| {figure} | {key[0]} | {key[1]} | {row['rps']:,.0f} | {row['best_rps']:,.0f} "
                f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['cpu_us']:,.0f} |"
            )
    print()
    first = code_names[0]
    for figure in figures:
        for db in db_names:
            for code in code_names[1:]:
                ours, theirs = results[(figure, (code, db))], results[(figure, (first, db))]
                best = max(r.rps for r in ours.runs) / max(1e-9, *(r.rps for r in theirs.runs))
                print(
                    f"{figure} on {db}: {code} / {first} req/s "
                    f"{ours.median('rps') / max(1e-9, theirs.median('rps')):.2f}x "
                    f"(best runs {best:.2f}x)"
                )
        if "sqlite" in db_names and "postgres" in db_names:
            for code in code_names:
                pg, lite = (
                    results[(figure, (code, "postgres"))],
                    results[(figure, (code, "sqlite"))],
                )
                ratio = pg.median("rps") / max(1e-9, lite.median("rps"))
                print(f"{figure}, {code}: PostgreSQL / SQLite req/s {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
