"""Browser fixtures: Debian's Chromium driven by Playwright, and servers shared per module.

pytest-playwright provides ``browser`` (one per session), ``context`` and ``page`` (new per
test); only its launch arguments are overridden here, to use ``/usr/bin/chromium`` because
Playwright's own browser download cannot work on this machine kind (STACK-NOTES). Without
Chromium the tests skip on a developer machine and fail under ``CI=true``.

This folder has no ``__init__.py``, so pytest imports this file as ``conftest`` too and it
shadows ``tests/conftest.py`` for ``from conftest import ...`` in modules imported after
it; the helpers of that file are therefore re-exported here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _load_root_conftest() -> types.ModuleType:
    name = "ranklet_tests_root_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).parent.parent / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _is_helper(name: str, value: object) -> bool:
    """Public names other than modules and fixtures (pytest has those already)."""
    return not (
        name.startswith("_")
        or isinstance(value, types.ModuleType)
        or hasattr(value, "_fixture_function_marker")
    )


_root = _load_root_conftest()
globals().update({k: v for k, v in vars(_root).items() if _is_helper(k, v) and k not in globals()})

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
    _root.need(_root.chromium_available(), f"Chromium at {_root.CHROMIUM}")
    return {**browser_type_launch_args, "executable_path": _root.CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    """Like ``start_server``, but the servers live for the whole module (they take seconds
    to start, and browser tests can share one by using an article or site of their own)."""
    folder = tmp_path_factory.mktemp("servers")
    servers: list[Any] = []

    def start(
        workers: int = 2,
        env: dict[str, str] | None = None,
        command: str = "serve",
        instance: Path | str | None = None,
        wait: bool = True,
    ) -> Any:
        """A server on a free port; ``instance`` shares another one's folder (and database);
        with ``wait=False`` the caller waits for ``/readyz`` when it needs the server."""
        port = _root.free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
        full_env.update(
            {
                "RANKLET_INSTANCE_PATH": str(instance or folder / f"instance-{len(servers)}"),
                "RANKLET_SECRET_KEY": "test-secret-key",
                "PYTHONUNBUFFERED": "1",
            }
        )
        full_env.update(env or {})
        log = folder / f"server-{port}.log"
        cli = [
            sys.executable,
            "-m",
            "service.cli",
            command,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        with open(log, "wb") as out:
            process = subprocess.Popen(cli, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        server = _root.Server(f"http://127.0.0.1:{port}", process, full_env, log)
        servers.append(server)
        if not wait:
            return server
        try:
            _root.wait_http(server.base + "/readyz", timeout=30)
        except AssertionError:
            server.stop()
            raise AssertionError(log.read_text(errors="replace")[-3000:]) from None
        return server

    yield start
    for server in servers:  # all at once: each takes seconds to shut down gracefully
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        server.stop()
