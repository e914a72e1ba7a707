"""The report of bench_vs_isso: the table, posts, memory, embed, page views and targets.

``Outcome`` holds everything one run measured; ``report`` prints it (and writes it as
JSON with ``--json``), ``targets`` judges it against issue 6's targets.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from load_client import WORKERS, Measured, two_xx
from page_views import PageView
from workload import Row


@dataclass
class Outcome:
    """Everything one run measured, for the report and --json."""

    rows: list[Row]
    results: dict[tuple[str, str], Measured]
    context: dict[str, str]
    memory: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    memory_peak: dict[str, float] = field(default_factory=dict)
    posts_before: dict[str, int] = field(default_factory=dict)
    posts_after: dict[str, int] = field(default_factory=dict)
    embed: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    views: list[PageView] = field(default_factory=list)
    browser_note: str = ""

    def measured(self, kind: str, name: str) -> Measured:
        """The one baseline, counts or post row of a service."""
        label = next(row.label for row in self.rows if row.kind == kind)
        return self.results[(label, name)]

    def lost(self, name: str) -> tuple[int, int, int]:
        """(2xx answers, rows stored, 2xx answers without a stored row) of the post runs."""
        acknowledged = two_xx(self.measured("post", name))
        stored = self.posts_after[name] - self.posts_before[name]
        return acknowledged, stored, max(0, acknowledged - stored)

    def growth(self, name: str) -> tuple[float, float, float | None]:
        """Summed over the workers: MiB before the read+count load, growth over all its runs,
        and growth from the end of its first run to the end of its last (None with one run)."""
        runs = [key for key in self.memory if key.startswith("after run")]
        before = sum(self.memory["before load"][name].values())
        first, last = (sum(self.memory[key][name].values()) for key in (runs[0], runs[-1]))
        return before, last - before, (last - first if len(runs) > 1 else None)

    def workers_replaced(self, name: str) -> bool:
        last = [key for key in self.memory if key.startswith("after run")][-1]
        return sorted(self.memory["before load"][name]) != sorted(self.memory[last][name])


def comparable(measured: Measured) -> bool:
    """A row to compare with: it got answers, and no client errors or unexpected statuses."""
    return bool(measured.runs) and measured.rps > 0 and not measured.unexpected


def targets(out: Outcome) -> list[tuple[bool | None, str]]:
    """The issue's targets: (met, or None when not measurable, and the figures)."""
    found: list[tuple[bool | None, str]] = []
    healthz = out.measured("baseline", "ranklet").rps
    reads = [row for row in out.rows if row.kind == "read"]
    for row in reads:
        mine, isso = out.results[(row.label, "ranklet")], out.results[(row.label, "isso")]
        found.append(
            (
                mine.rps >= healthz / 2 and comparable(mine),
                f"{row.label}: {mine.rps:,.0f} req/s, half of /healthz is {healthz / 2:,.0f}"
                f" ({ratio(mine.rps, isso.rps)}x Isso)",
            )
        )
    worst = max(out.results[(row.label, "ranklet")].median("p99_ms") for row in reads)
    found.append((0 < worst < 50, f"read p99 < 50 ms: worst {worst:.1f} ms"))
    for kind, factor in (("counts", 3.0), ("post", 1.5)):
        mine, isso = out.measured(kind, "ranklet"), out.measured(kind, "isso")
        text = (
            f"{kind} >= {factor:g}x Isso: {mine.rps:,.0f} vs {isso.rps:,.0f} req/s"
            f" = {ratio(mine.rps, isso.rps)}x"
        )
        met: bool | None = comparable(mine) and mine.rps >= factor * isso.rps
        if kind == "post":
            lost = {name: out.lost(name)[2] for name in ("ranklet", "isso")}
            text += f"; lost posts: Ranklet {lost['ranklet']}, Isso {lost['isso']}"
            met = met and lost["ranklet"] == 0
        if not comparable(isso):
            met, text = None, text + " (Isso's runs had errors or no answers: not comparable)"
        found.append((met, text))
    mine_gz = out.embed["ranklet"]["total"]["gzip"]
    isso_gz = out.embed["isso"]["total"]["gzip"]
    thread_only = [v for v in out.views if v.service == "ranklet" and v.page == "thread only"]
    calls = thread_only[0].data_requests + thread_only[0].preflights if thread_only else None
    found.append(
        (
            None if calls is None else (mine_gz * 3 <= isso_gz and calls == 1),
            f"embed <= 1/3 of Isso's gzipped bytes: {mine_gz:,} vs {isso_gz:,} B"
            f" = {mine_gz / isso_gz:.2f}; data requests to show a thread: "
            + ("not measured" if calls is None else str(calls)),
        )
    )
    # Flat: after the first run has warmed caches, pools and thread stacks, the later runs
    # add at most 5 % (or 5 MiB). With --repeat 1, the whole load may add 15 % (or 10 MiB).
    before, growth, later = out.growth("ranklet")
    isso_before, isso_growth, isso_later = out.growth("isso")
    if later is None:
        met = growth <= max(10.0, 0.15 * before) and not out.workers_replaced("ranklet")
        rule = "growth over the load <= max(10 MiB, 15 %)"
    else:
        met = later <= max(5.0, 0.05 * before) and not out.workers_replaced("ranklet")
        rule = "growth after the first run <= max(5 MiB, 5 %)"
    after_first = "" if later is None else f", {later:+.1f} after the first run"
    isso_after_first = "" if isso_later is None else f", {isso_later:+.1f} after the first run"
    found.append(
        (
            met,
            f"worker memory flat ({rule}): Ranklet {before:.1f} MiB {growth:+.1f}{after_first};"
            f" Isso {isso_before:.1f} MiB {isso_growth:+.1f}{isso_after_first}",
        )
    )
    return found


def report(args: argparse.Namespace, out: Outcome) -> None:
    ctx = out.context
    tools = sorted({m.tool for m in out.results.values()})
    from service.server import DEFAULT_THREADS  # the served code's, as the server runs it

    print(
        f"\nRanklet {ctx['ranklet']} (gunicorn {ctx['ranklet gunicorn']}, {WORKERS} Ranklet"
        f" workers: a poller and {DEFAULT_THREADS} threads each, SQLite) vs Isso {ctx['isso']}"
        f" (gunicorn {ctx['isso gunicorn']},"
        f" {WORKERS} sync workers, SQLite); {args.connections} connections,"
        f" {args.duration:g} s x {args.repeat} (medians); tools: {', '.join(tools)};"
        f" {os.cpu_count()} CPUs shared by the client and both servers; load average at the"
        f" start {ctx['load average at the start']}, at the end {ctx['load average at the end']}"
        f"\n"
    )
    print(table(out.rows, out.results))
    for note in unexpected_note(out.rows, out.results):
        print(note)

    print("\nPosts (rate limits off on both), checked against the databases:")
    for name in ("ranklet", "isso"):
        acknowledged, stored, lost = out.lost(name)
        runs = out.measured("post", name).runs
        others = {k: n for r in runs for k, n in r.statuses.items() if not k.startswith("2")}
        errors = {k: n for r in runs for k, n in r.errors.items()}
        print(
            f"  {name:<7} {acknowledged:,} answered 2xx, {stored:,} rows stored, lost {lost};"
            f" other answers {others or 'none'}, client errors {errors or 'none'}"
        )

    print("\nWorker memory (RSS in MiB: the sum of the gunicorn workers, each in brackets):")
    for name in ("ranklet", "isso"):
        parts = []
        for moment, snapshot in out.memory.items():
            each = ", ".join(f"{v:.1f}" for v in snapshot[name].values())
            parts.append(f"{moment} {sum(snapshot[name].values()):.1f} [{each}]")
        parts.append(f"peak {out.memory_peak.get(name, 0.0):.1f}")
        if out.workers_replaced(name):
            parts.append("(workers were replaced during the load!)")
        print(f"  {name:<7} " + "; ".join(parts))

    print("\nEmbed (what each serves to render; gzip -9 and brotli q11 computed here):")
    for name in ("ranklet", "isso"):
        for path, figures in out.embed[name].items():
            served = figures.get("served_encoding")
            extra = f"; served as {figures['served']:,} B {served}" if served else ""
            print(
                f"  {name:<7} {path:<18} raw {figures['raw']:>7,}  gzip {figures['gzip']:>6,}"
                f"  brotli {figures['brotli']:>6,}{extra}"
            )
    if out.views:
        print("\nA first page view in headless Chromium (requests that reached each service):")
        for view in out.views:
            counts = f", counts filled {view.counts_filled}" if "counts" in view.page else ""
            print(
                f"  {view.service:<7} {view.page:<20} {view.assets} assets +"
                f" {view.data_requests} data requests + {view.preflights} CORS preflights;"
                f" {view.transferred_bytes:,} B; comments shown {view.comments_shown}{counts};"
                f" rendered in {view.rendered_ms:.0f} ms"
            )
            for line in view.requests:
                print(f"      {line}")
    else:
        print(f"\nBrowser page views: {out.browser_note}")

    found = targets(out)
    print("\nTargets (issue 6):")
    for met, text in found:
        print(f"  [{'not measured' if met is None else 'met' if met else 'NOT met'}] {text}")
    if args.json:
        write_json(args, out, found)


def write_json(
    args: argparse.Namespace, out: Outcome, found: list[tuple[bool | None, str]]
) -> None:
    document = {
        "context": out.context,
        "settings": {
            "duration": args.duration,
            "repeat": args.repeat,
            "connections": args.connections,
            "cpus": os.cpu_count(),
        },
        "rows": {
            f"{label} / {name}": {
                "runs": [asdict(result) for result in measured.runs],
                "drains": measured.drains,
                "answer_bytes": measured.answer_bytes,
            }
            for (label, name), measured in out.results.items()
        },
        "memory": out.memory,
        "memory_peak": out.memory_peak,
        "posts": {name: out.lost(name) for name in ("ranklet", "isso")},
        "embed": out.embed,
        "page_views": [asdict(view) for view in out.views],
        "targets": [{"met": met, "text": text} for met, text in found],
    }
    args.json.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    print(f"\nwrote {args.json}")


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value else "-"


def ratio(a: float, b: float) -> str:
    if not b:
        return "inf" if a else "-"
    return f"{a / b:,.2f}"


def table(rows: list[Row], results: dict[tuple[str, str], Measured]) -> str:
    head = (
        f"{'row':<30} {'tool':<6} | {'Ranklet req/s':>13} {'p50 ms':>8} {'p99 ms':>8} | "
        f"{'Isso req/s':>10} {'p50 ms':>8} {'p99 ms':>9} | {'R/I req/s':>9} | "
        f"{'wire bytes R / I':>19}"
    )
    out = [head, "-" * len(head)]
    for row in rows:
        r, i = results[(row.label, "ranklet")], results[(row.label, "isso")]
        flag = " !" if r.unexpected or i.unexpected else ""
        tool = r.tool if r.tool == i.tool else f"{r.tool}/{i.tool}"
        out.append(
            f"{row.label:<30} {tool:<6} | {fmt(r.rps):>13} {fmt(r.median('p50_ms'), 2):>8} "
            f"{fmt(r.median('p99_ms'), 2):>8} | {fmt(i.rps):>10} {fmt(i.median('p50_ms'), 1):>8} "
            f"{fmt(i.median('p99_ms'), 1):>9} | {ratio(r.rps, i.rps):>9} | "
            f"{r.answer_bytes:>9,} / {i.answer_bytes:>7,}{flag}"
        )
    return "\n".join(out)


def unexpected_note(rows: list[Row], results: dict[tuple[str, str], Measured]) -> list[str]:
    notes = []
    for row in rows:
        for name in ("ranklet", "isso"):
            measured = results[(row.label, name)]
            if measured.unexpected:
                statuses: dict[str, int] = {}
                errors: dict[str, int] = {}
                for result in measured.runs:
                    for k, n in result.statuses.items():
                        statuses[k] = statuses.get(k, 0) + n
                    for k, n in result.errors.items():
                        errors[k] = errors.get(k, 0) + n
                notes.append(f"! {row.label}, {name}: statuses {statuses}, errors {errors}")
            if any(d is None for d in measured.drains):
                notes.append(
                    f"! {row.label}, {name}: still busy after the drain limit, so restarted"
                )
    return notes
