"""A private, throw-away PostgreSQL cluster for tests that stop and start the database.

The machine's shared PostgreSQL (127.0.0.1:5432) is never touched: this starts a cluster
of its own with Debian's server binaries (``/usr/lib/postgresql/*/bin``) in a short temp
folder owned by the ``postgres`` user (initdb refuses to run as root), on a free loopback
port with trust authentication. Use it as a context manager; the cluster is stopped and its
folder removed on the way out, whatever happened::

    with PrivatePostgres() as pg:
        url = pg.url            # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        pg.stop()               # pg_ctl stop -m immediate: a crash, as far as clients see
        pg.start()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from support import free_port


def server_bin_dir() -> Path | None:
    """Newest installed server version's bin folder, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(found[-1]).parent if found else None


def available() -> bool:
    """initdb and pg_ctl are installed and we can run them as the postgres user."""
    if server_bin_dir() is None or shutil.which("runuser") is None:
        return False
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return os.geteuid() == 0


class PrivatePostgres:
    def __init__(self) -> None:
        bindir = server_bin_dir()
        assert bindir is not None, "no PostgreSQL server binaries under /usr/lib/postgresql"
        self.bindir = bindir
        self.port = free_port()
        # Short path: the Unix socket lives here too, and socket paths are limited to ~100 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="rkpg"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        owner = pwd.getpwnam("postgres")
        os.chown(self.folder, owner.pw_uid, owner.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.folder,
        )

    def init(self) -> None:
        done = self._as_postgres(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c max_connections=60 -c fsync=on"
        )
        done = self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.log), "-w", "-t", "30", "start",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]} {self.log_tail()}")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: every backend dies at once, open connections break mid-query."""
        done = self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop",
        )  # fmt: skip
        if done.returncode != 0 and self.running():
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr[-1000:]}")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the cluster if it still runs (by its postmaster's PID as a last resort)."""
        try:
            if self.running():
                self.stop("immediate")
        except Exception:  # fall through to the signal below
            pass
        pid = self.postmaster_pid()
        if pid is not None and self.running():
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.folder, ignore_errors=True)

    def first_start(self) -> None:
        """:meth:`start`, on another free port when the one found was taken before the server
        bound it (``free_port`` releases it, and test processes run side by side), twice at
        most; later starts keep their port, as clients expect."""
        for moves in range(3):
            logged = self.log.stat().st_size if self.log.exists() else 0
            try:
                self.start()
                return
            except RuntimeError:
                if moves == 2 or "Address already in use" not in self.log_since(logged):
                    raise
            self.port = free_port()

    def log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> PrivatePostgres:
        try:
            self.init()
            self.first_start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.cleanup()
