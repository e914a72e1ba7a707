"""Regenerate ``docs/screenshot.png``: the demo blog page as a reader sees it.

Starts ``ranklet demo`` (``python -m service.cli demo``) on a free 127.0.0.1 port with a
temporary instance folder (SQLite, the seeded demo site), opens ``/demo/`` in Debian's
Chromium with Playwright at 1200 px wide in the light colour scheme, waits until the
badges, the thread and the comment counts have rendered and the fonts are loaded, saves a
full-page PNG and stops the server (also on errors and Ctrl-C).

    apt-get install -y chromium fonts-noto-cjk && pip install -e '.[test]'
    python scripts/screenshot.py                          # writes docs/screenshot.png
    python scripts/screenshot.py --out /tmp/dark.png --theme dark
    python scripts/screenshot.py --all                    # the set kept in docs/ for review

``--all`` writes, from one demo server: ``docs/demo-light.png`` and ``docs/demo-dark.png``
(1200 px, the system's light and dark scheme; the demo follows it and the embed, with
``data-theme="auto"``, follows the page), ``docs/demo-375.png`` (a 375 px phone) and
``docs/admin-375.png`` (the admin's rankings page at 375 px, signed in with the demo token).

``bench/bench_embed_size.py`` reuses ``demo_server`` and ``launch_chromium``; the server
is started, awaited and stopped by ``bench/serving.py``, as in every bench.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from serving import clean_env, ranklet_server, running, tail  # noqa: E402

CHROMIUM = os.environ.get("RANKLET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COUNTS_FILLED = """() => [...document.querySelectorAll('[data-ranklet-count]')]
  .every((el) => /^\\d+$/.test(el.textContent.trim()))"""


@contextlib.contextmanager
def demo_server(workers: int = 1, logs: list[Path] | None = None) -> Iterator[str]:
    """``ranklet demo`` in a throw-away instance folder; yields its base URL (and appends
    the path of its output, which has the demo token, to ``logs``)."""
    with tempfile.TemporaryDirectory(prefix="ranklet-demo-") as folder:
        log = Path(folder) / "server.log"
        if logs is not None:
            logs.append(log)
        demo = ranklet_server(clean_env(folder), log, "demo", workers)
        with running(demo) as server:
            yield server.base


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (its own browser download cannot work here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_rendered(page: Any) -> None:
    """Badges, the thread with its comments, every count, and the web fonts."""
    page.locator(".ranklet-badge").first.wait_for()
    page.locator(".ranklet-thread .ranklet-comment").first.wait_for()
    page.wait_for_function(COUNTS_FILLED)
    page.evaluate("() => document.fonts.ready.then(() => true)")


def console_error(message: Any) -> bool:
    """An error in the console (a 404 for the favicon counts: the service has one)."""
    return bool(message.type == "error")


def take(out: Path, width: int, theme: str) -> None:
    with demo_server() as base, launch_chromium() as browser:
        shoot(demo_page(browser, base, width, theme), out)


def demo_token(log: Path) -> str:
    """The admin token ``ranklet demo`` printed: the longest word on its token line."""
    for line in log.read_text(errors="replace").splitlines():
        if "token" in line.lower():
            return max(re.findall(r"[A-Za-z0-9_-]{20,}", line), key=len)
    raise RuntimeError(f"no token in the demo's output:\n{tail(log)}")


def shoot(page: Any, out: Path) -> None:
    """A full-page PNG, reduced to a 256-colour palette (a third of the size, the same look
    for pages of flat colours and text) when Pillow is there."""
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True, animations="disabled")
    with contextlib.suppress(ImportError):
        from PIL import Image

        with Image.open(out) as image:
            small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        small.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def demo_page(browser: Any, base: str, width: int, theme: str) -> Any:
    page = browser.new_page(
        viewport={"width": width, "height": 900}, color_scheme=theme, reduced_motion="reduce"
    )
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: console_error(m) and problems.append(m.text))
    page.goto(base + "/demo/", wait_until="networkidle")
    wait_rendered(page)
    if problems:
        raise RuntimeError(f"the demo page reported errors: {problems}")
    return page


def take_all(folder: Path) -> None:
    """The review set of issue 12 (see the module docstring), from one server."""
    logs: list[Path] = []
    with demo_server(logs=logs) as base, launch_chromium() as browser:
        for name, width, theme in (
            ("light", 1200, "light"),
            ("dark", 1200, "dark"),
            ("375", 375, "light"),
        ):
            page = demo_page(browser, base, width, theme)
            shoot(page, folder / f"demo-{name}.png")
            page.close()
        page = browser.new_page(
            viewport={"width": 375, "height": 800}, locale="ja-JP", reduced_motion="reduce"
        )
        page.goto(base + "/admin/")
        page.fill("#site", "demo")
        page.fill("#token", demo_token(logs[0]))
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/(?!sign-in)"))
        page.goto(base + "/admin/rankings")
        page.wait_for_selector(".positions")
        page.evaluate(
            "() => Promise.all([...document.images].map((i) => i.decode().catch(() => 0)))"
        )
        shoot(page, folder / "admin-375.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1200, help="viewport width in CSS px")
    parser.add_argument("--theme", choices=["light", "dark"], default="light")
    parser.add_argument("--all", action="store_true", help="the review set in docs/")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.all:
        take_all(REPO / "docs")
    else:
        take(args.out, args.width, args.theme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
