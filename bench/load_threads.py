"""The ``python`` load tool: one thread per connection, each with its own keep-alive
``http.client.HTTPConnection``. Any method, body and headers; exact per-status counts.

It shares the CPU (and the GIL) with itself, so on a small machine it saturates before a fast
server does: compare routes with each other, not with other tools' numbers.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter

from load_result import LoadResult, percentile


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


def run_threads(
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
