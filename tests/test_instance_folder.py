"""Contract §1: one instance folder per user, whatever the working folder, and a missing
optional driver named in one line before anything starts.

Every command runs in a child process, as a user types it, from a folder of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import run_cli

REPO = Path(__file__).resolve().parent.parent


def _user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment: no RANKLET_ or XDG_ settings, the repository importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RANKLET_", "XDG_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(home), PYTHONPATH=str(REPO), **extra)
    return env


def _folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, first, second = tmp_path / "home", tmp_path / "blog-a", tmp_path / "elsewhere"
    for folder in (home, first, second):
        folder.mkdir()
    return home, first, second


def test_commands_from_two_folders_see_the_same_sites(server_database, tmp_path: Path):
    home, first, second = _folders(tmp_path)
    env = _user_env(home, **server_database)
    created = run_cli(
        env, "site", "create", "blog", "--origin", "https://blog.example.jp", "--json", cwd=first
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["site"] == "blog"
    data = home / ".local" / "share" / "ranklet"
    assert (data / "secret_key").is_file()
    if not server_database:  # SQLite: the new file is announced with its path
        assert created.stderr == f"Created a new database: {data / 'ranklet.db'}\n"

    listed = run_cli(env, "site", "list", "--json", cwd=second)
    assert listed.returncode == 0, listed.stderr
    assert [row["site"] for row in json.loads(listed.stdout)] == ["blog"]
    assert "Created" not in listed.stderr  # nothing new was made the second time
    assert sorted(p.name for p in first.iterdir()) == []
    assert sorted(p.name for p in second.iterdir()) == []


def test_xdg_data_home_is_followed_and_a_relative_one_ignored(tmp_path: Path):
    home, first, second = _folders(tmp_path)
    xdg = tmp_path / "xdg"
    made = run_cli(_user_env(home, XDG_DATA_HOME=str(xdg)), "site", "list", cwd=first)
    assert made.returncode == 0, made.stderr
    assert made.stderr == f"Created a new database: {xdg / 'ranklet' / 'ranklet.db'}\n"
    assert "No sites yet" in made.stdout

    relative = run_cli(_user_env(home, XDG_DATA_HOME="data"), "site", "list", cwd=second)
    assert relative.returncode == 0, relative.stderr
    default = home / ".local" / "share" / "ranklet" / "ranklet.db"
    assert relative.stderr == f"Created a new database: {default}\n"
    assert not (second / "data").exists()


def test_an_explicit_instance_path_wins(tmp_path: Path):
    home, first, _ = _folders(tmp_path)
    mine = tmp_path / "mine"
    env = _user_env(home, RANKLET_INSTANCE_PATH=str(mine))
    made = run_cli(env, "db", "upgrade", cwd=first)
    assert made.returncode == 0, made.stderr
    assert f"Created a new database: {mine / 'ranklet.db'}\n" in made.stderr
    assert not (home / ".local").exists()


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A ``sitecustomize`` that makes psycopg and redis look uninstalled in a child process."""
    folder = tmp_path / "blocker"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import sys\nsys.modules['psycopg'] = None\nsys.modules['redis'] = None\n"
    )
    return folder


@pytest.mark.parametrize(
    ("name", "url", "extra"),
    [
        ("RANKLET_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgres"),
        ("RANKLET_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0", "redis"),
    ],
)
@pytest.mark.parametrize("command", [("serve",), ("site", "list"), ("db", "upgrade")])
def test_a_missing_driver_is_one_line_before_anything_starts(
    blocked: Path, tmp_path: Path, name: str, url: str, extra: str, command: tuple[str, ...]
):
    home, first, _ = _folders(tmp_path)
    instance = tmp_path / "instance"
    env = _user_env(home, **{name: url, "RANKLET_INSTANCE_PATH": str(instance)})
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{blocked}"
    result = run_cli(env, *command, cwd=first)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"Error: {name} asks for ")
    assert result.stderr.endswith(f"pip install 'ranklet[{extra}]'\n")
    assert not instance.exists()  # no folder, secret or database was made


def test_the_drivers_are_not_asked_for_when_installed(tmp_path: Path):
    """Without the blocker the same settings pass the check (the real drivers are here)."""
    from service.core.drivers import missing_driver

    assert missing_driver({"DATABASE_URL": "postgresql+psycopg://u@h/d"}) is None
    assert missing_driver({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}) is None
    assert missing_driver({"DATABASE_URL": "sqlite:///x.db"}) is None
