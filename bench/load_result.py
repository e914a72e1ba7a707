"""What one bounded load run measured, and the table every bench prints of its runs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


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


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
