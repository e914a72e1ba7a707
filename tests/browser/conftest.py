"""Browser fixtures: Debian's Chromium driven by Playwright, and servers shared per module.

pytest-playwright provides ``browser`` (one per session), ``context`` and ``page`` (new per
test); only its launch arguments are overridden here, to use ``/usr/bin/chromium`` because
Playwright's own browser download cannot work on this machine kind (STACK-NOTES). Without
Chromium the tests skip on a developer machine and fail under ``CI=true``.

Helpers come from ``tests/support.py``, never ``from conftest import``: pytest imports this
file as the module ``conftest`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from embed_pages import HostPages
from playwright.sync_api import Page
from support import CHROMIUM, Server, chromium_available, launch_server, need, wait_ready

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options, pointed at Debian's Chromium."""
    need(chromium_available(), f"Chromium at {CHROMIUM}")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Like ``start_server``, but the servers live for the whole module (they take seconds
    to start, and browser tests can share one by using an article or site of their own)."""
    folder = tmp_path_factory.mktemp("servers")
    servers: list[Server] = []

    def start(
        workers: int = 2,
        env: dict[str, str] | None = None,
        command: str = "serve",
        instance: Path | str | None = None,
        wait: bool = True,
    ) -> Server:
        """A server on a free port; ``instance`` shares another one's folder (and database);
        with ``wait=False`` the caller waits for ``/readyz`` when it needs the server."""
        instance = instance or folder / f"instance-{len(servers)}"
        server = launch_server(folder, instance, command, workers, env)
        servers.append(server)
        return wait_ready(server) if wait else server

    yield start
    for server in servers:  # all at once: each takes seconds to shut down gracefully
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def host() -> Iterator[HostPages]:
    """The blog's pages, served on their own 127.0.0.1 port for the whole module."""
    pages = HostPages()
    yield pages
    pages.close()


@pytest.fixture
def page_errors(page: Page) -> Iterator[list[str]]:
    """No error may ever escape from the embed into the host page (modules that want it
    for every test use it with ``pytest.mark.usefixtures``)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    yield errors
    assert errors == []
