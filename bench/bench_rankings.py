"""Throughput of the public ranking reads, next to /healthz, on a real `ranklet serve`.

Self-contained: makes a temporary instance folder (SQLite), creates the site `benchblog`
with `python -m service.cli site create`, starts `python -m service.cli serve` with 2
workers on a free port, records 30 positions per category through the API, then loads
each route for `--duration` seconds at `--connections` connections with bench/loadgen.py:

  /healthz                                      the baseline (no database)
  GET /api/v1/sites/benchblog/rankings          the rankings document (JSON)
  GET /badge/benchblog/consulting.svg           a badge (SVG, 200 with an ETag)
  same badge with If-None-Match                 the revalidation path (304)

and prints: route, req/s, p50 ms, p99 ms, ratio of req/s to /healthz. The server is
stopped (by its PID) at the end, also on errors and Ctrl-C; the folder is removed unless
--keep is given.

    python bench/bench_rankings.py                    # 10 s per route
    python bench/bench_rankings.py --duration 5 --tool python
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from load_result import LoadResult, rate_columns, results_table
from loadgen import TOOLS, add_load_arguments, run_load
from serving import HOST, clean_env, cli, ranklet_server, request, run_in_scratch, running

SITE = "benchblog"
CATEGORIES = ("consulting", "management", "marketing")


def seed(port: int, token: str, per_category: int) -> None:
    """`per_category` daily observations for every category, oldest first."""
    rng = random.Random(1)
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for day in range(per_category, 0, -1):
        positions = {key: rng.randint(1, 60) for key in CATEGORIES}
        at = (now - timedelta(days=day)).isoformat()
        document = json.dumps({"positions": positions, "observed_at": at}).encode()
        path = f"/api/v1/sites/{SITE}/rankings"
        status, _, body = request(port, "POST", path, document, headers)
        if status != 200:
            raise RuntimeError(f"recording positions answered {status}: {body[:300]!r}")


def check(port: int, path: str, headers: dict[str, str], expected: int) -> dict[str, str]:
    status, answer_headers, body = request(port, "GET", path, headers=headers)
    if status != expected:
        raise RuntimeError(f"GET {path} answered {status}, expected {expected}: {body[:300]!r}")
    return answer_headers


def table(rows: list[tuple[str, int, LoadResult]]) -> str:
    base = rows[0][2].rps or 1.0
    return results_table(
        rows, 56, [*rate_columns(9), ("ratio", 6, lambda r: f"{r.rps / base:.2f}")]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, duration=10.0, each="route")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--positions", type=int, default=30, help="entries per category")
    parser.add_argument("--tool", choices=TOOLS, default=None, help="default: wrk if installed")
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()

    return run_in_scratch("ranklet-bench-", args.keep, lambda instance: measure(args, instance))


def measure(args: argparse.Namespace, instance: Path) -> int:
    env = clean_env(instance)
    # `site create` does not migrate a new instance by itself (serve does): upgrade first.
    cli(env, "db", "upgrade")
    created = json.loads(
        cli(env, "site", "create", SITE, "--origin", "https://b.example", "--json")
    )
    with running(ranklet_server(env, instance / "server.log", workers=args.workers)) as server:
        print(f"server pid {server.pid} on {server.base}, instance {instance}")
        return load_routes(args, server.port, created["token"])


def load_routes(args: argparse.Namespace, port: int, token: str) -> int:
    seed(port, token, args.positions)

    badge = f"/badge/{SITE}/consulting.svg"
    etag = check(port, badge, {}, 200).get("ETag")
    if not etag:
        raise RuntimeError(f"GET {badge} sent no ETag")
    routes = [
        ("GET /healthz (baseline)", "/healthz", {}, 200),
        (f"GET /api/v1/sites/{SITE}/rankings", f"/api/v1/sites/{SITE}/rankings", {}, 200),
        (f"GET {badge}", badge, {}, 200),
        (f"GET {badge} (If-None-Match: 304)", badge, {"If-None-Match": etag}, 304),
    ]
    for _, path, headers, expected in routes:
        check(port, path, headers, expected)
    # Warm every worker's connection pool and caches before the first measurement.
    run_load(f"http://{HOST}:{port}/healthz", duration=1, tool="python", max_requests=2000)

    rows: list[tuple[str, int, LoadResult]] = []
    for label, path, headers, expected in routes:
        result = run_load(
            f"http://{HOST}:{port}{path}",
            headers=headers,
            connections=args.connections,
            duration=args.duration,
            tool=args.tool,
        )
        print(f"  {label}: {result.rps:.1f} req/s", flush=True)
        rows.append((label, expected, result))
    tool = rows[0][2].tool
    print(
        f"\n{args.connections} connections, {args.duration:g} s per route, tool {tool}, "
        f"{args.workers} gunicorn workers, SQLite, {args.positions} entries per category, "
        f"{os.cpu_count()} CPUs shared by client and server\n"
    )
    print(table(rows))
    return 1 if any(r.unexpected(expected) for _, expected, r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
