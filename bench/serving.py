"""One way to start, wait for and stop a server on 127.0.0.1, and to run ``ranklet`` commands.

The benches, ``scripts/screenshot.py`` and ``tests/support.py`` all start servers the same
way: a subprocess in a session of its own (its PID is its process group, so a hung
gunicorn master and the workers it forked can be killed together, and nothing else), its
output in a log file, ready when a path answers 200; stopped by its PID with SIGTERM, then
SIGKILL to its group if it hangs. ``cli`` is the one runner of ``python -m service.cli``.

A script beside it in ``bench/`` imports it as ``serving``; from elsewhere, put ``bench/``
on ``sys.path`` first (as ``scripts/screenshot.py`` and ``tests/support.py`` do).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log, or nothing when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def clean_env(
    instance: Path | str | None = None, drop: tuple[str, ...] = ("RANKLET_",), **settings: str
) -> dict[str, str]:
    """This environment without the variables starting with ``drop``, unbuffered output,
    pointed at ``instance`` (when given) and with ``settings`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONUNBUFFERED"] = "1"
    if instance is not None:
        env["RANKLET_INSTANCE_PATH"] = str(instance)
    env.update(settings)
    return env


def run(
    command: list[str], env: dict[str, str] | None = None, timeout: float = 600, cwd: Path = REPO
) -> str:
    """Run a command to its end; its stdout, or RuntimeError with the tail of its output."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = "\n".join((done.stderr + done.stdout).splitlines()[-20:])
        raise RuntimeError(f"{' '.join(command[:5])} ... failed ({done.returncode}):\n{output}")
    return done.stdout


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """``ranklet <args>`` from this checkout (``python -m service.cli``, whatever is installed)."""
    return run([sys.executable, "-m", "service.cli", *args], env, timeout)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:port on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """A server subprocess on 127.0.0.1:port; ``start``, ``wait_ready`` and ``stop`` it."""

    name: str
    command: list[str]
    port: int
    env: dict[str, str]
    log: Path
    cwd: Path = REPO
    ready: str = "/readyz"  # answers 200 once it can serve
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def start(self) -> Server:
        """Start it (again, after a ``stop``), its output appended to ``log``."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its PID is its process group: see stop()
            )
        return self

    def wait_ready(self, limit: float = 60, workers: int = 0) -> Server:
        """Until ``ready`` answers 200 (and ``workers`` gunicorn workers run); RuntimeError
        with the log's tail when it exits or does not get there within ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited ({code}):\n{tail(self.log)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                answered = request(self.port, "GET", self.ready, timeout=5)[0]
                if answered == 200 and len(self.workers()) >= workers:
                    return self
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name}: {self.ready} not 200 within {limit:.0f} s:\n{tail(self.log)}"
        )

    def stop(self) -> None:
        """SIGTERM the master (our child, by PID); SIGKILL its group if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # start_new_session made the master's PID its group: this reaches its workers only.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def workers(self) -> list[int]:
        """PIDs of the gunicorn workers: the children of the master (our child)."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in (task / "children").read_text().split())
        return sorted(found)


def ranklet_server(
    env: dict[str, str],
    log: Path,
    command: str = "serve",
    workers: int = 2,
    port: int | None = None,
) -> Server:
    """``ranklet <command>`` (serve or demo) on 127.0.0.1, a free port unless given; not
    started yet."""
    port = port or free_port()
    return Server("ranklet", ranklet_command(command, port, workers), port, env, log)


def ranklet_command(command: str, port: int, workers: int) -> list[str]:
    """``python -m service.cli <command>`` on 127.0.0.1:port: this checkout's code."""
    where = ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    return [sys.executable, "-m", "service.cli", command, *where]


@contextlib.contextmanager
def running(server: Server, limit: float = 60, workers: int = 0) -> Iterator[Server]:
    """Start ``server``, wait until it is ready, and stop it however the block ends."""
    try:
        yield server.start().wait_ready(limit, workers)
    finally:
        server.stop()


def run_in_scratch(prefix: str, keep: bool, measure: Callable[[Path], int]) -> int:
    """``measure(folder)`` in a new temporary folder: its exit code, or 1 (said on stderr)
    when it fails; the folder is removed afterwards unless ``keep``. A SIGTERM (a CI
    timeout, say) unwinds through every ``finally``, as Ctrl-C does, so servers stop."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return measure(folder)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        if keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
