"""Ranklet next to Isso 0.14 in one run: the same data, server set-up and bounded load.

What it does (issue 6, item 3), all on 127.0.0.1 and bounded in time:

1. Installs Isso 0.14 (``isso==0.14.*``; the newest Isso if 0.14 cannot be installed, said so
   in the output) with gunicorn into its own virtual environment, ``bench/.venv-isso``
   (reused when it already holds a matching Isso). Isso never enters the project's
   dependencies.
2. Seeds both with the same plan: threads of 20, 200 and 2,000 comments (25 % replies, each
   to a top-level comment, so Isso's one-level nesting and Ranklet's trees hold the same
   structure), 100 articles with 0 to 5 comments, and a thread that receives the posts.
   Ranklet through ``service.comment_posting.post_comment`` (in a subprocess with rate limits
   off); Isso through its own ``isso.db.SQLite3`` classes (``bench/isso/seed_isso.py``, run
   by the venv's Python), every comment accepted (mode 1).
3. Runs both under gunicorn with 2 workers: ``python -m service.cli serve --workers 2`` (its
   gthread workers, ``RANKLET_COMMENT_RATE_LIMIT=""``) and
   ``gunicorn -w 2 isso.run`` (sync workers, ``ISSO_SETTINGS`` = ``bench/isso/isso.cfg.in``
   filled in: guard (rate limit), moderation and notifications off; ``--timeout 120`` so
   gunicorn does not kill a worker in the middle of Isso's slowest thread reads).
4. Loads each with bench/loadgen.py, ``--connections`` (16) for ``--duration`` (15 s),
   ``--repeat`` times (3), and keeps the median of each figure: the baselines (``/healthz``,
   ``/info``), a thread read as each embed makes it (Ranklet ``GET .../widget?article=``;
   Isso ``GET /?uri=...&sort=oldest&offset=0&nested_limit=5``) for each thread size,
   counts for 50 articles (``GET .../counts?article=`` x50 vs ``POST /count``), and comment
   posts (``POST .../comments`` vs ``POST /new?uri=``), then checks every 2xx post is in the
   database. Every row goes through wrk (2 threads, a Lua script for the method, body and
   headers) when it is installed, else loadgen's python client, for both services alike.
   The embeds' requests carry the page's Origin and a browser's Accept-Encoding.
   Between runs it waits until the servers' processes are
   idle again (Isso keeps working through the requests wrk left queued; ``--drain-limit``).
5. Records the gunicorn workers' RSS (from /proc) at start, before the read+count load and
   after each of its runs (and its peak; "flat" is judged after the first run), the embed's
   bytes (raw, gzip -9, brotli) and, in headless Chromium through a counting proxy, the
   requests a first page view makes to each service (assets, data requests and CORS
   preflights).
6. Prints the table, the memory, the embed figures and which of the issue's targets are met.

Every process it starts is stopped by its PID at the end, also on errors, Ctrl-C and SIGTERM.
This file is the entry point; ``workload.py`` holds the plan and the paired requests,
``load_client.py`` the runs, drains, memory readings and checks, ``isso_side.py`` Isso's venv,
config, seeder and server, ``page_views.py`` the Chromium page views, ``report.py`` the output.

    python bench/bench_vs_isso.py                         # 15 s x 3, about 20-30 minutes
    python bench/bench_vs_isso.py --duration 5 --repeat 1 # a quick look
    python bench/bench_vs_isso.py --no-browser --json results.json --keep
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from isso_side import (
    DEFAULT_VENV,
    ensure_isso,
    isso_service,
    pip_version,
    seed_command,
    venv_python,
    write_config,
)
from load_client import (
    WORKERS,
    Measured,
    MemorySampler,
    Service,
    check,
    embed_bytes,
    load,
    memory,
    stored_posts,
    wait_idle,
)
from loadgen import add_load_arguments
from page_views import CHROMIUM, CountingProxy, PageServer, browse, in_thread
from report import Outcome, report
from serving import REPO, clean_env, cli, free_port, ranklet_command, run, run_in_scratch
from workload import SITE, counted_articles, make_plan, make_rows, seed_ranklet_here


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, duration=15.0, each="run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians (3)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="Isso's virtualenv")
    parser.add_argument(
        "--drain-limit",
        type=float,
        default=600.0,
        help="longest wait (s) for a server to go idle after a run, else it is restarted (600)",
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page views")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--seed-ranklet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_ranklet:
        return seed_ranklet_here(args.seed_ranklet)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return run_in_scratch("ranklet-vs-isso-", args.keep, lambda work: compare(args, work))


def compare(args: argparse.Namespace, work: Path) -> int:
    """Both services and the page server, each stopped by its PID however the run ends."""
    servers: list[Service] = []
    pages = PageServer()
    try:
        with in_thread(pages):
            return bench(args, work, servers, pages)
    finally:
        for server in servers:
            server.stop()


def prepare(
    args: argparse.Namespace, work: Path, origin: str, plan_path: Path, total: int
) -> tuple[Service, Service]:
    """Seed both databases (at the same time) and describe both servers (not started yet).

    Ranklet: schema and site through its CLI, comments through ``post_comment``. Isso: its
    config from the template, its schema and comments through its own db classes.
    """
    instance = work / "ranklet"
    env = clean_env(instance, drop=("RANKLET_", "ISSO_"), RANKLET_COMMENT_RATE_LIMIT="")
    cli(env, "db", "upgrade")
    cli(env, "site", "create", SITE, "--origin", origin, "--lang", "en", "--json")

    isso_dir = work / "isso"
    isso_dir.mkdir()
    isso_port, ranklet_port = free_port(), free_port()
    isso_cfg = write_config(isso_dir, origin, isso_port)
    seeders = {
        "Ranklet": ([sys.executable, str(Path(__file__).resolve()), "--seed-ranklet"], env),
        "Isso": (seed_command(args.venv, isso_cfg), None),
    }
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(run, [*command, str(plan_path)], environment)
            for name, (command, environment) in seeders.items()
        }
        for name, future in futures.items():
            seeded = json.loads(future.result())
            print(f"seeded {name}: {seeded} ({time.perf_counter() - began:.0f} s)", flush=True)
            if seeded["comments"] != total:
                raise RuntimeError(f"{name} got {seeded['comments']} comments, not {total}")

    ranklet = Service(
        "ranklet",
        ranklet_command("serve", ranklet_port, WORKERS),
        ranklet_port,
        env,
        work / "ranklet.log",
    )
    return ranklet, isso_service(args.venv, isso_cfg, isso_port, work / "isso.log")


def bench(args: argparse.Namespace, work: Path, servers: list[Service], pages: PageServer) -> int:
    isso_version, venv_note = ensure_isso(args.venv)
    isso_python = str(venv_python(args.venv))
    plan = make_plan()
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    total = sum(len(t["comments"]) for t in plan["threads"])
    print(f"Isso {isso_version} ({venv_note}); plan: {total} comments", flush=True)

    ranklet, isso = prepare(args, work, pages.origin, plan_path, total)
    servers += [ranklet, isso]
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready()
        print(f"{server.name}: pid {server.pid} on :{server.port}, workers {server.workers()}")
    instance, isso_db = work / "ranklet", isso.cwd / "comments.db"
    mem_start = {s.name: memory(s) for s in servers}
    context = {
        "ranklet": git_describe(),
        "ranklet gunicorn": pip_version(sys.executable, "gunicorn"),
        "isso": isso_version,
        "isso install": venv_note,
        "isso gunicorn": pip_version(isso_python, "gunicorn"),
        "load average at the start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }

    rows = make_rows(pages.origin, plan)
    results: dict[tuple[str, str], Measured] = {}
    print("checking every route once (Isso's 2,000-comment thread takes a while)", flush=True)
    for row in rows:
        for server, route in ((ranklet, row.ranklet), (isso, row.isso)):
            results[(row.label, server.name)] = Measured(answer_bytes=check(server, route))
    for server in servers:
        wait_idle(server, args.drain_limit)

    def phase(kinds: tuple[str, ...], after_each: Callable[[int], None] | None = None) -> None:
        for repeat in range(args.repeat):
            for row in rows:
                if row.kind not in kinds:
                    continue
                print(f"[{repeat + 1}/{args.repeat}] {row.label}", flush=True)
                for server, route in ((ranklet, row.ranklet), (isso, row.isso)):
                    load(server, route, args, results[(row.label, server.name)])
            if after_each is not None:
                after_each(repeat)

    phase(("baseline",))
    out = Outcome(rows=rows, results=results, context=context)
    out.memory["start"] = mem_start
    out.memory["before load"] = {s.name: memory(s) for s in servers}

    def snapshot(repeat: int) -> None:
        out.memory[f"after run {repeat + 1}"] = {s.name: memory(s) for s in servers}

    with MemorySampler(servers) as sampler:
        phase(("read", "counts"), snapshot)
    out.memory_peak = sampler.peak
    dbs = {"ranklet": instance / "ranklet.db", "isso": isso_db}
    out.posts_before = {name: stored_posts(name, path) for name, path in dbs.items()}
    phase(("post",))
    out.posts_after = {name: stored_posts(name, path) for name, path in dbs.items()}

    out.embed = {
        "ranklet": embed_bytes(ranklet, ["/embed.js"]),
        "isso": embed_bytes(isso, ["/js/embed.min.js", "/css/isso.css"]),
    }
    if args.no_browser:
        out.browser_note = "skipped (--no-browser)"
    elif not Path(CHROMIUM).exists():
        out.browser_note = f"skipped: {CHROMIUM} is not installed"
    else:
        proxies = {"ranklet": CountingProxy(ranklet.port), "isso": CountingProxy(isso.port)}
        with in_thread(proxies["ranklet"]), in_thread(proxies["isso"]):
            count_articles = counted_articles(plan)[0][:10]
            out.views = browse(pages, proxies, "/bench/thread-20", count_articles)
    out.context["load average at the end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(args, out)
    return 0


def git_describe() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip() or "?"
    return "?"


if __name__ == "__main__":
    sys.exit(main())
