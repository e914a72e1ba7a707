"""The Isso side of bench_vs_isso: its own virtual environment, config, seeder and server.

Isso never enters the project's dependencies: it is installed into ``bench/.venv-isso``
(reused when it already holds Isso 0.14), seeded by ``bench/isso/seed_isso.py`` run by
that venv's Python, and served by that venv's gunicorn.
"""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

from load_client import WORKERS, Service
from serving import HOST, clean_env, run

BENCH = Path(__file__).resolve().parent
ISSO_FILES = BENCH / "isso"
DEFAULT_VENV = BENCH / ".venv-isso"
ISSO_SPEC = "isso==0.14.*"
ISSO_SERIES = "0.14."


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_isso(venv: Path) -> str | None:
    python = venv_python(venv)
    if not python.exists() or not (venv / "bin" / "gunicorn").exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('isso'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_isso(venv: Path) -> tuple[str, str]:
    """Isso 0.14 and gunicorn in their own venv; (isso version, a note for the output)."""
    found = installed_isso(venv)
    if found and found.startswith(ISSO_SERIES):
        return found, f"reused {venv}"
    if not venv_python(venv).exists():
        print(f"creating {venv}", flush=True)
        run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    note = f"installed {ISSO_SPEC} into {venv}"
    print(f"installing {ISSO_SPEC} and gunicorn into {venv}", flush=True)
    try:
        run([*pip, ISSO_SPEC, "gunicorn"], timeout=900)
    except RuntimeError as error:
        print(f"{ISSO_SPEC} could not be installed ({error}); trying the newest Isso", flush=True)
        run([*pip, "isso", "gunicorn"], timeout=900)
        note = f"Isso 0.14 was NOT installable; used the newest Isso in {venv}"
    version = installed_isso(venv)
    if not version:
        raise RuntimeError(f"Isso is not importable in {venv}")
    return version, note


def pip_version(python: str, package: str) -> str:
    done = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() or "?"


def write_config(isso_dir: Path, origin: str, port: int) -> Path:
    """``bench/isso/isso.cfg.in`` filled in: guard, moderation and notifications off."""
    template = string.Template((ISSO_FILES / "isso.cfg.in").read_text(encoding="utf-8"))
    isso_cfg = isso_dir / "isso.cfg"
    isso_cfg.write_text(
        template.substitute(dbpath=isso_dir / "comments.db", page_origin=origin, port=port),
        encoding="utf-8",
    )
    return isso_cfg


def seed_command(venv: Path, isso_cfg: Path) -> list[str]:
    """The seeder, run by the venv's Python; it takes the plan's path as its last argument."""
    return [str(venv_python(venv)), str(ISSO_FILES / "seed_isso.py"), str(isso_cfg)]


def isso_service(venv: Path, isso_cfg: Path, port: int, log: Path) -> Service:
    """``gunicorn -w 2 isso.run`` in the config's folder (not started yet); ``--timeout 120``
    so gunicorn does not kill a worker in the middle of Isso's slowest thread reads."""
    command = [
        str(venv / "bin" / "gunicorn"),
        *("-w", str(WORKERS), "-b", f"{HOST}:{port}", "--no-control-socket"),
        *("--timeout", "120", "--error-logfile", "-", "isso.run"),
    ]
    env = clean_env(drop=("RANKLET_", "ISSO_"), ISSO_SETTINGS=str(isso_cfg))
    return Service("isso", command, port, env, log, isso_cfg.parent, ready="/info", probe="/info")
