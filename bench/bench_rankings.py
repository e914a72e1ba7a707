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
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadgen import DEFAULT_CONNECTIONS, MAX_DURATION, TOOLS, LoadResult, run_load

REPO = Path(__file__).resolve().parent.parent
SITE = "benchblog"
CATEGORIES = ("consulting", "management", "marketing")
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(instance: Path) -> dict[str, str]:
    """The caller's environment without RANKLET_* settings, pointed at the temp instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    env["RANKLET_INSTANCE_PATH"] = str(instance)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        output = "\n".join((done.stderr + done.stdout).splitlines()[-15:])
        raise RuntimeError(f"ranklet {' '.join(args)} failed:\n{output}")
    return done.stdout


def request(
    port: int,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        send = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            send["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=send)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_ready(port: int, server: subprocess.Popen[bytes], log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited ({server.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", "/readyz")[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"/readyz not 200 within {limit:.0f} s:\n{tail(log)}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the gunicorn master (our child, by PID), then SIGKILL its group if it hangs."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # start_new_session made the server's PID its process group: this reaches the
        # workers it forked too, and nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def seed(port: int, token: str, per_category: int) -> None:
    """`per_category` daily observations for every category, oldest first."""
    rng = random.Random(1)
    now = datetime.now(UTC).replace(microsecond=0)
    auth = {"Authorization": f"Bearer {token}"}
    for day in range(per_category, 0, -1):
        positions = {key: rng.randint(1, 60) for key in CATEGORIES}
        at = (now - timedelta(days=day)).isoformat()
        status, _, body = request(
            port,
            "POST",
            f"/api/v1/sites/{SITE}/rankings",
            {"positions": positions, "observed_at": at},
            auth,
        )
        if status != 200:
            raise RuntimeError(f"recording positions answered {status}: {body[:300]!r}")


def check(port: int, path: str, headers: dict[str, str], expected: int) -> dict[str, str]:
    status, answer_headers, body = request(port, "GET", path, headers=headers)
    if status != expected:
        raise RuntimeError(f"GET {path} answered {status}, expected {expected}: {body[:300]!r}")
    return answer_headers


def unexpected(expected: int, result: LoadResult) -> bool:
    """Any error, no answer, or an answer other than `expected` (wrk: other than 2xx/3xx)."""
    ok = result.statuses.get(str(expected), result.statuses.get("2xx/3xx", 0))
    return bool(result.errors) or result.requests == 0 or ok != result.requests


def table(rows: list[tuple[str, int, LoadResult]]) -> str:
    base = rows[0][2].rps or 1.0
    head = f"{'route':<56} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  statuses"
    out = [head, "-" * len(head)]
    for label, expected, result in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items()))
        if result.errors:
            statuses += " errors:" + ",".join(f"{k}={v}" for k, v in result.errors.items())
        flag = "  <- unexpected answers" if unexpected(expected, result) else ""
        out.append(
            f"{label:<56} {result.rps:>9.1f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{result.rps / base:>6.2f}  {statuses}{flag}"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per route")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--positions", type=int, default=30, help="entries per category")
    parser.add_argument("--tool", choices=TOOLS, default=None, help="default: wrk if installed")
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")

    # A SIGTERM (e.g. from a CI timeout) unwinds through `finally`, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    instance = Path(tempfile.mkdtemp(prefix="ranklet-bench-"))
    log = instance / "server.log"
    env = clean_env(instance)
    server: subprocess.Popen[bytes] | None = None
    try:
        # `site create` does not migrate a new instance by itself (serve does): upgrade first.
        cli(env, "db", "upgrade")
        created = json.loads(
            cli(env, "site", "create", SITE, "--origin", "https://b.example", "--json")
        )
        port = free_port()
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"server pid {server.pid} on http://{HOST}:{port}, instance {instance}")
        wait_ready(port, server, log)
        seed(port, created["token"], args.positions)

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
        return 1 if any(unexpected(expected, r) for _, expected, r in rows) else 0
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print(f"kept {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
