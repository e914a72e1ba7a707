"""A small, bounded HTTP load generator for the Ranklet benches (module and CLI).

Only ``http://127.0.0.1`` URLs are accepted: this is for measuring a server you started
yourself on this machine, never for loading anyone else's. Every run is bounded in time
(``--duration``, at most 120 s) and in request count (``--max-requests``).

Two tools:

* ``python``: one thread per connection, each with its own keep-alive
  ``http.client.HTTPConnection``. Any method, body and headers; exact per-status counts.
  It shares the CPU (and the GIL) with itself, so on a small machine it saturates before
  a fast server does: compare routes with each other, not with other tools' numbers.
* ``wrk``: ``/usr/bin/wrk`` (Debian's, built with LuaJIT). Any method, body and headers,
  through a small Lua script written for the run; far less client overhead than python.
  wrk cannot stop after N requests, so it is used only when no ``--max-requests`` is
  given (its run is then bounded by the duration), and it reports only "2xx/3xx" versus
  "other" responses, not each status code.

The default is wrk when it is on PATH and no explicit count cap is given, else python.

    python bench/loadgen.py http://127.0.0.1:8000/healthz
    python bench/loadgen.py http://127.0.0.1:8000/healthz --tool python -c 8 --duration 5
    python bench/loadgen.py http://127.0.0.1:8000/badge/demo/consulting.svg \\
        -H 'If-None-Match: "abc"' --json
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

ALLOWED_HOST = "127.0.0.1"
MAX_DURATION = 120.0
DEFAULT_DURATION = 10.0
DEFAULT_CONNECTIONS = 16
MAX_CONNECTIONS = 256
DEFAULT_MAX_REQUESTS = 1_000_000
REQUEST_TIMEOUT = 10.0
TOOLS = ("python", "wrk")


@dataclass
class LoadResult:
    """What one run measured. Latencies are in milliseconds."""

    tool: str
    url: str
    method: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def measured(
        cls,
        tool: str,
        url: str,
        method: str,
        connections: int,
        elapsed: float,
        requests: int,
        latency: tuple[float, float],
        counts: tuple[dict[str, int], dict[str, int]],
    ) -> LoadResult:
        """``requests`` answered in ``elapsed`` s, ``latency`` (p50, p99) and ``counts``
        (statuses, errors): the rate follows from them."""
        rps = requests / elapsed if elapsed > 0 else 0.0
        return cls(tool, url, method, connections, elapsed, requests, rps, *latency, *counts)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def unexpected(self, expected: int) -> bool:
        """Any error, no answer, or an answer other than ``expected`` (wrk: not 2xx/3xx)."""
        ok = self.statuses.get(str(expected), self.statuses.get("2xx/3xx", 0))
        return bool(self.errors) or self.requests == 0 or ok != self.requests

    def answers(self, expected: int) -> str:
        """The status counts and errors for a table cell, flagged when unexpected."""
        text = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        if self.errors:
            text += " errors:" + ",".join(f"{k}={v}" for k, v in self.errors.items())
        return text + ("  <- unexpected answers" if self.unexpected(expected) else "")

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())) or "none"
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"{self.method} {self.url} [{self.tool}, {self.connections} connections, "
            f"{self.duration_s:.1f} s]\n"
            f"  requests  {self.requests}\n"
            f"  req/s     {self.rps:.1f}\n"
            f"  p50       {self.p50_ms:.2f} ms\n"
            f"  p99       {self.p99_ms:.2f} ms\n"
            f"  statuses  {statuses}\n"
            f"  errors    {errors}"
        )


Column = tuple[str, int, Callable[[LoadResult], str]]
"""A table column: its title, its width, and its text for one result."""


def rate_columns(rps_width: int) -> list[Column]:
    """req/s, p50 and p99: the columns every bench's table has."""
    return [
        ("req/s", rps_width, lambda r: f"{r.rps:.1f}"),
        ("p50 ms", 8, lambda r: f"{r.p50_ms:.2f}"),
        ("p99 ms", 8, lambda r: f"{r.p99_ms:.2f}"),
    ]


def results_table(
    rows: list[tuple[str, int, LoadResult]], width: int, columns: list[Column]
) -> str:
    """One line a route, ``(label, expected status, result)``, and its answers at the end."""
    head = f"{'route':<{width}} " + " ".join(f"{t:>{w}}" for t, w, _ in columns) + "  statuses"
    out = [head, "-" * len(head)]
    for label, expected, result in rows:
        cells = " ".join(f"{text(result):>{w}}" for _, w, text in columns)
        out.append(f"{label:<{width}} {cells}  {result.answers(expected)}")
    return "\n".join(out)


def check_url(url: str) -> tuple[str, int, str]:
    """(host, port, path with query) of an ``http://127.0.0.1[:port]/...`` URL, else ValueError."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs are supported, not {url!r}")
    if parts.hostname != ALLOWED_HOST or parts.username or parts.password:
        raise ValueError(f"refusing {url!r}: loadgen only targets http://{ALLOWED_HOST}")
    try:
        port = parts.port or 80
    except ValueError as error:
        raise ValueError(f"bad port in {url!r}") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ALLOWED_HOST, port, path


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def wrk_path() -> str | None:
    return shutil.which("wrk")


def choose_tool(method: str, body: bytes | None, max_requests: int | None) -> str:
    if max_requests is None and wrk_path():
        return "wrk"
    return "python"


def run_load(
    url: str,
    method: str = "GET",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    connections: int = DEFAULT_CONNECTIONS,
    duration: float = DEFAULT_DURATION,
    max_requests: int | None = None,
    tool: str | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> LoadResult:
    """Run one bounded load and return what it measured.

    ``tool=None`` picks wrk for any request without ``max_requests`` when wrk is
    installed, else python. ``max_requests=None`` means the default cap (1,000,000) for
    the python tool; wrk runs are bounded by ``duration`` only.
    """
    method = method.upper()
    if isinstance(body, str):
        body = body.encode()
    host, port, path = check_url(url)
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] seconds, not {duration}")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be 1 to {MAX_CONNECTIONS}, not {connections}")
    if max_requests is not None and max_requests < 1:
        raise ValueError("max_requests must be at least 1")
    if tool is None:
        tool = choose_tool(method, body, max_requests)
    if tool == "wrk":
        if max_requests is not None:
            raise ValueError("wrk cannot stop after N requests: use --tool python for a cap")
        return _run_wrk(url, method, body, headers or {}, connections, duration, timeout)
    if tool != "python":
        raise ValueError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")
    cap = DEFAULT_MAX_REQUESTS if max_requests is None else max_requests
    return _run_python(
        url, host, port, path, method, body, headers or {}, connections, duration, cap, timeout
    )


# --- python ---------------------------------------------------------------------------------


class _Budget:
    """A shared request budget: a thread takes a ticket before each request."""

    def __init__(self, cap: int, deadline: float) -> None:
        self._left = cap
        self._deadline = deadline
        self._lock = threading.Lock()

    def take(self) -> bool:
        if time.perf_counter() >= self._deadline:
            return False
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def _run_python(
    url: str,
    host: str,
    port: int,
    path: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    connections: int,
    duration: float,
    cap: int,
    timeout: float,
) -> LoadResult:
    send_headers = {"User-Agent": "ranklet-loadgen", **headers}
    if body is not None:
        send_headers.setdefault("Content-Type", "application/json")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    statuses: list[Counter[str]] = [Counter() for _ in range(connections)]
    errors: list[Counter[str]] = [Counter() for _ in range(connections)]
    run: dict[str, _Budget] = {}

    def start_clock() -> None:
        # Runs once, when every thread is ready: thread start-up is not measured.
        run["budget"] = _Budget(cap, time.perf_counter() + duration)

    start_gate = threading.Barrier(connections + 1, action=start_clock)

    def worker(index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        mine, codes, failures = latencies[index], statuses[index], errors[index]
        try:
            start_gate.wait()
            budget = run["budget"]
            while budget.take():
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                began = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=send_headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as error:
                    failures[type(error).__name__] += 1
                    conn.close()
                    conn = None
                    continue
                mine.append((time.perf_counter() - began) * 1000.0)
                codes[str(response.status)] += 1
                if response.will_close:
                    conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        # A request in flight at the deadline may take up to `timeout` more.
        thread.join(max(0.0, began + duration + timeout + 1.0 - time.perf_counter()))
    elapsed = time.perf_counter() - began
    stuck = sum(thread.is_alive() for thread in threads)

    merged = sorted(x for per_thread in latencies for x in per_thread)
    status_total: Counter[str] = sum(statuses, Counter())
    error_total: Counter[str] = sum(errors, Counter())
    if stuck:
        error_total["StuckThread"] += stuck
    latency = (percentile(merged, 0.50), percentile(merged, 0.99))
    counts = (dict(status_total), dict(error_total))
    return LoadResult.measured(
        "python", url, method, connections, elapsed, len(merged), latency, counts
    )


# --- wrk ------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"([\d.]+)(us|ms|s|m|h)$")


def _to_ms(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, object]:
    """Requests, elapsed seconds, p50/p99 (ms), non-2xx/3xx and socket errors from wrk."""
    totals = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.M)
    if not totals:
        raise ValueError(f"unexpected wrk output:\n{output}")
    found: dict[str, object] = {
        "requests": int(totals.group(1)),
        "elapsed_s": _to_ms(totals.group(2) + totals.group(3)) / 1000.0,
    }
    for name, label in (("p50_ms", "50%"), ("p99_ms", "99%")):
        match = re.search(rf"^\s*{label}\s+(\S+)\s*$", output, re.M)
        found[name] = _to_ms(match.group(1)) if match else 0.0
    non_ok = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    found["non_ok"] = int(non_ok.group(1)) if non_ok else 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors: dict[str, int] = {}
    if sockets:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), sockets.groups(), strict=True
        ):
            if int(value):
                errors[name] = int(value)
    found["errors"] = errors
    return found


def _lua_string(value: bytes | str) -> str:
    """A Lua long-bracket-free literal: every byte as a decimal escape."""
    raw = value.encode() if isinstance(value, str) else value
    return '"' + "".join(f"\\{byte}" for byte in raw) + '"'


def wrk_script(method: str, body: bytes | None, headers: dict[str, str]) -> str:
    """The Lua script that makes every wrk request this method, body and headers."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    headers = dict(headers)
    if body:
        lines.append(f"wrk.body = {_lua_string(body)}")
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"  # as the python client does
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + "\n"


def _run_wrk(
    url: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    connections: int,
    duration: float,
    timeout: float,
) -> LoadResult:
    binary = wrk_path()
    if binary is None:
        raise ValueError("wrk is not installed (apt-get install -y wrk), use --tool python")
    threads = max(1, min(connections, os.cpu_count() or 1))
    seconds = max(1, round(duration))
    command = [
        binary,
        "--latency",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{max(1, round(timeout))}s",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(method, body, headers))
    try:
        command += ["-s", script.name, url]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    parsed = parse_wrk(done.stdout)
    requests = int(parsed["requests"])  # type: ignore[call-overload]
    elapsed = float(parsed["elapsed_s"])  # type: ignore[arg-type]
    non_ok = int(parsed["non_ok"])  # type: ignore[call-overload]
    statuses = {"2xx/3xx": requests - non_ok}
    if non_ok:
        statuses["other"] = non_ok
    latency = (float(parsed["p50_ms"]), float(parsed["p99_ms"]))  # type: ignore[arg-type]
    counts = (statuses, dict(parsed["errors"]))  # type: ignore[call-overload]
    return LoadResult.measured("wrk", url, method, connections, elapsed, requests, latency, counts)


# --- command line ---------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def duration_arg(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_DURATION:g}] seconds")
    return value


def add_load_arguments(parser: argparse.ArgumentParser, duration: float, each: str) -> None:
    """The benches' ``--duration`` (seconds per ``each``, bounded) and ``--connections``."""
    parser.add_argument(
        "--duration", type=duration_arg, default=duration, help=f"seconds per {each} ({duration:g})"
    )
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Bounded HTTP load against http://127.0.0.1 only (see the module docstring)."
    )
    parser.add_argument("url", help="http://127.0.0.1:PORT/path")
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("-d", "--body", help="request body (sent as given)")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        type=_header,
        default=[],
        help="'Name: value' (repeatable)",
    )
    parser.add_argument("-c", "--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument(
        "--duration",
        type=duration_arg,
        default=DEFAULT_DURATION,
        help=f"seconds (default {DEFAULT_DURATION:g}, at most {MAX_DURATION:g})",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help=f"stop after N requests (python tool; default {DEFAULT_MAX_REQUESTS})",
    )
    parser.add_argument(
        "--tool",
        choices=TOOLS,
        default=None,
        help="default: wrk if on PATH and no --max-requests is given",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        load = (args.method, args.body, dict(args.header), args.connections, args.duration)
        result = run_load(args.url, *load, args.max_requests, args.tool)
    except (ValueError, RuntimeError) as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else result.summary())
    return 1 if result.requests == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
