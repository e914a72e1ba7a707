"""Contract §1: the ``ranklet`` site, token and rank commands."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from support import SiteInfo, free_port, run_cli

from service.cli.main import main
from service.core.crypto import TOKEN_RE

BASE = "/api/v1/sites/blog"


@pytest.fixture
def client(cli_app: Any) -> Any:
    """The test client of the migrated-by-commands app (conftest's ``cli_app``)."""
    return cli_app.test_client()


@pytest.fixture
def make_site(ranklet: Any) -> Any:
    def make(slug: str, *options: str) -> SiteInfo:
        if "--origin" not in options:
            options = (*options, "--origin", "https://blog.example.com")
        data = json.loads(ok(ranklet("site", "create", slug, *options, "--json")).stdout)
        return SiteInfo(data["site"], data["token"])

    return make


@pytest.fixture
def site(make_site: Any) -> SiteInfo:
    return make_site("blog")


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failed(result: Any, *words: str) -> str:
    assert result.exit_code != 0, result.output
    message = result.stderr
    assert message.startswith("Error: ") or "Usage:" in message, message
    for word in words:
        assert word in message
    assert "Traceback" not in result.output
    return message


def listed(ranklet: Any) -> dict[str, dict[str, Any]]:
    rows = json.loads(ok(ranklet("site", "list", "--json")).stdout)
    return {row["site"]: row for row in rows}


# --- site create ----------------------------------------------------------------------------


def test_site_create_json_prints_one_json_object(ranklet, client):
    result = ok(
        ranklet("site", "create", "blog", "--origin", "https://blog.example.com/", "--json")
    )
    data = json.loads(result.stdout)
    assert result.stdout.strip().count("\n") == 0
    assert set(data) == {"site", "token"}
    assert data["site"] == "blog"
    assert TOKEN_RE.match(data["token"])
    document = client.get(f"{BASE}/rankings").get_json()
    assert [c["key"] for c in document["categories"]] == ["consulting", "management", "marketing"]
    answer = client.post(
        f"{BASE}/rankings",
        json={"positions": {"consulting": 3}},
        headers={"Authorization": f"Bearer {data['token']}"},
    )
    assert answer.status_code == 200
    row = listed(ranklet)["blog"]
    assert row == {
        "site": "blog",
        "name": "blog",
        "origins": ["https://blog.example.com"],
        "lang": "ja",
        "moderation": "none",
        "timezone": "Asia/Tokyo",
    }


def test_site_create_with_every_option(ranklet):
    result = ok(
        ranklet(
            "site",
            "create",
            "shop",
            "--origin",
            "https://a.example",
            "--origin",
            "http://localhost:8080",
            "--name",
            "私のブログ",
            "--lang",
            "en",
            "--moderation",
            "all",
            "--timezone",
            "Europe/London",
        )
    )
    assert "shop" in result.stdout
    token = result.stdout.strip().split()[-1]
    assert TOKEN_RE.match(token)
    assert listed(ranklet)["shop"] == {
        "site": "shop",
        "name": "私のブログ",
        "origins": ["https://a.example", "http://localhost:8080"],
        "lang": "en",
        "moderation": "all",
        "timezone": "Europe/London",
    }


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["Bad_Slug", "--origin", "https://a.example"], ["slug"]),
        (["blog\n", "--origin", "https://a.example"], ["slug"]),
        (["blog", "--origin", "blog.example.com"], ["not an origin"]),
        (["blog", "--origin", "https://a.example/path"], ["not an origin"]),
        (["blog"], ["--origin"]),
        (["blog", "--origin", "https://a.example", "--lang", "fr"], ["--lang"]),
        (["blog", "--origin", "https://a.example", "--moderation", "some"], ["--moderation"]),
    ],
)
def test_site_create_rejects_bad_input(ranklet, args, words):
    failed(ranklet("site", "create", *args), *words)
    assert listed(ranklet) == {}


def test_site_create_twice_fails(ranklet):
    ok(ranklet("site", "create", "blog", "--origin", "https://a.example"))
    failed(ranklet("site", "create", "blog", "--origin", "https://b.example"), "exists")
    assert listed(ranklet)["blog"]["origins"] == ["https://a.example"]


# --- site list / update ------------------------------------------------------------------------


def test_site_list(ranklet, make_site):
    assert "No sites yet" in ok(ranklet("site", "list")).stdout
    assert json.loads(ok(ranklet("site", "list", "--json")).stdout) == []
    make_site("beta", "--name", "Beta", "--lang", "en", "--origin", "https://beta.example")
    make_site("alpha")
    text = ok(ranklet("site", "list")).stdout
    lines = text.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha", "beta"]
    assert "Beta\ten\tmoderation=none\thttps://beta.example" in lines[1]
    assert list(listed(ranklet)) == ["alpha", "beta"]


def test_site_update_changes_each_setting(ranklet, site):
    result = ok(
        ranklet(
            "site",
            "update",
            "blog",
            "--name",
            "New name",
            "--origin",
            "https://new.example",
            "--origin",
            "https://www.new.example",
            "--lang",
            "en",
            "--moderation",
            "all",
        )
    )
    assert "blog" in result.stdout
    assert listed(ranklet)["blog"] == {
        "site": "blog",
        "name": "New name",
        "origins": ["https://new.example", "https://www.new.example"],
        "lang": "en",
        "moderation": "all",
        "timezone": "UTC",
    }
    # Options not given are left alone.
    ok(ranklet("site", "update", "blog", "--moderation", "none"))
    row = listed(ranklet)["blog"]
    assert (row["name"], row["lang"], row["moderation"]) == ("New name", "en", "none")
    assert row["origins"] == ["https://new.example", "https://www.new.example"]


def test_site_update_language_changes_the_default_labels(ranklet, client, site):
    ok(ranklet("site", "update", "blog", "--lang", "en"))
    labels = [c["label"] for c in client.get(f"{BASE}/rankings").get_json()["categories"]]
    assert labels == ["Consulting", "Management", "Marketing"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--origin", "ftp://blog.example.com"], ["not an origin", "ftp://blog.example.com"]),
        (["--origin", "https://ok.example", "--origin", "nope"], ["not an origin", "nope"]),
        (["--name", " "], ["name"]),
        (["--lang", "de"], ["--lang"]),
        (["--moderation", "maybe"], ["--moderation"]),
    ],
)
def test_site_update_rejects_bad_input_and_changes_nothing(ranklet, site, args, words):
    before = listed(ranklet)
    failed(ranklet("site", "update", "blog", *args), *words)
    assert listed(ranklet) == before


def test_site_update_of_an_unknown_site_fails(ranklet, site):
    failed(ranklet("site", "update", "nosuch", "--name", "x"), "nosuch")


def test_site_update_webhook_json_prints_the_secret_once(ranklet, site):
    result = ok(ranklet("site", "update", "blog", "--webhook", "https://hooks.example/x", "--json"))
    data = json.loads(result.stdout)
    assert set(data) == {"site", "webhook_secret"}
    assert data["site"] == "blog"
    assert len(data["webhook_secret"]) >= 32
    assert data["webhook_secret"] not in ok(ranklet("site", "list")).stdout


# --- token rotate -------------------------------------------------------------------------------


def test_token_rotate_json(ranklet, client, site):
    result = ok(ranklet("token", "rotate", "blog", "--json"))
    data = json.loads(result.stdout)
    assert result.stdout.strip().count("\n") == 0
    assert set(data) == {"site", "token"}
    assert data["site"] == "blog"
    assert TOKEN_RE.match(data["token"])
    assert data["token"] != site.token
    body = {"positions": {"consulting": 1}}
    assert client.post(f"{BASE}/rankings", json=body, headers=site.auth).status_code == 401
    new = {"Authorization": f"Bearer {data['token']}"}
    assert client.post(f"{BASE}/rankings", json=body, headers=new).status_code == 200


def test_token_rotate_without_json_and_of_an_unknown_site(ranklet, site):
    result = ok(ranklet("token", "rotate", "blog"))
    assert TOKEN_RE.match(result.stdout.strip().split()[-1])
    failed(ranklet("token", "rotate", "nosuch"), "nosuch")


# --- rank set -----------------------------------------------------------------------------------


def test_rank_set_records_a_position(ranklet, client, site):
    result = ok(
        ranklet("rank", "set", "blog", "consulting", "4", "--at", "2024-01-01T09:00:00+09:00")
    )
    assert "consulting: 4 recorded; best 4 (first 2024-01-01 09:00 JST)" in result.stdout
    ok(ranklet("rank", "set", "blog", "consulting", "7"))
    item = client.get(f"{BASE}/rankings").get_json()["categories"][0]
    assert item["entries"] == 2
    assert item["best"] == {"position": 4, "observed_at": "2024-01-01T00:00:00Z"}
    assert item["current"]["position"] == 7


def test_rank_set_with_an_unknown_category(ranklet, client, site):
    message = failed(ranklet("rank", "set", "blog", "seo", "4"), "seo")
    assert "consulting, management, marketing" in message
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["entries"] == 0


@pytest.mark.parametrize("position", ["0", "1000001", "4.5", "four", "-3", "", "true"])
def test_rank_set_with_a_bad_position(ranklet, client, site, position):
    # "--" so that "-3" is an argument, not an option.
    message = failed(ranklet("rank", "set", "blog", "consulting", "--", position))
    shown = position or "nothing"
    assert message.startswith(
        f"Error: Position must be a whole number from 1 to 1,000,000 (got {shown})."
    )
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["entries"] == 0


@pytest.mark.parametrize("position", ["-3", "0"])
def test_rank_set_below_one_without_dashes_says_positions_start_at_1(ranklet, site, position):
    message = failed(ranklet("rank", "set", "blog", "consulting", position))
    assert "No such option" not in message
    assert message == (
        f"Error: Position must be a whole number from 1 to 1,000,000 (got {position})."
        " Positions start at 1 (the top).\n"
    )


def test_rank_set_accepts_a_comma_grouped_position(ranklet, client, site):
    assert (
        "consulting: 1200 recorded"
        in ok(ranklet("rank", "set", "blog", "consulting", "1,200")).stdout
    )


@pytest.mark.parametrize(
    ("when", "said"),
    [
        (
            "tomorrow",
            "Error: --at must be a date and time like 2026-12-03T09:00:00+09:00 "
            "(got 'tomorrow').\n",
        ),
        (
            "2999-01-01T00:00:00Z",
            "Error: --at 2999-01-01T00:00:00Z is in the future; "
            "give the time the position was seen.\n",
        ),
    ],
)
def test_rank_set_with_a_bad_time(ranklet, client, site, when, said):
    assert failed(ranklet("rank", "set", "blog", "consulting", "4", "--at", when)) == said
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["entries"] == 0


def test_rank_set_reads_a_time_without_a_zone_in_the_sites_zone(ranklet, client, site):
    """A Japanese blogger types 09:00 and means 09:00 in Tokyo; the output says JST."""
    result = ok(ranklet("rank", "set", "blog", "consulting", "4", "--at", "2026-01-05T09:00"))
    assert "consulting: 4 recorded; best 4 (first 2026-01-05 09:00 JST)" in result.stdout
    best = client.get(f"{BASE}/rankings").get_json()["categories"][0]["best"]
    assert best == {"position": 4, "observed_at": "2026-01-05T00:00:00Z"}

    ok(ranklet("site", "update", "blog", "--timezone", "America/New_York"))
    result = ok(ranklet("rank", "set", "blog", "management", "2", "--at", "2026-01-05 09:00"))
    assert "management: 2 recorded; best 2 (first 2026-01-05 09:00 EST)" in result.stdout
    item = client.get(f"{BASE}/rankings").get_json()["categories"][1]
    assert item["best"]["observed_at"] == "2026-01-05T14:00:00Z"


def test_rank_set_with_a_malformed_category_key(ranklet, site):
    message = failed(ranklet("rank", "set", "blog", "Con sulting", "4"))
    assert message == (
        "Error: unknown category 'Con sulting'; this site has: consulting, management, marketing\n"
    )


def test_rank_set_for_an_unknown_site(ranklet, site):
    failed(ranklet("rank", "set", "nosuch", "consulting", "4"), "nosuch")


# --- help ---------------------------------------------------------------------------------------


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(main)


def test_every_documented_command_exists():
    for path in [
        ("serve",),
        ("demo",),
        ("site", "create"),
        ("site", "list"),
        ("site", "update"),
        ("token", "rotate"),
        ("rank", "set"),
    ]:
        assert path in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "ranklet")
def test_help_of_every_command(ranklet, path):
    result = ok(ranklet(*path, "--help"))
    assert "Usage:" in result.stdout
    assert "Traceback" not in result.output


def test_help_shows_ranklet_only(ranklet):
    shown = ok(ranklet("--help")).stdout
    for internal in ("--app", "--env-file", "--debug", "dotenv", "limiter", "openapi", "routes"):
        assert internal not in shown
    for command in ("serve", "demo", "site", "token", "rank", "erase", "export", "import", "db"):
        assert f"  {command} " in shown
    for flask_command in ("run", "shell", "routes", "limiter", "openapi"):
        assert flask_command not in main.list_commands(click.Context(main))


def test_db_upgrade_has_no_alembic_options(ranklet):
    shown = ok(ranklet("db", "upgrade", "--help")).stdout
    assert "--directory" not in shown and "-d," not in shown and "--sql" not in shown
    assert sorted(main.commands["db"].commands) == ["upgrade"]  # type: ignore[attr-defined]


def test_db_upgrade_creates_the_schema_of_the_models(ranklet, cli_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.core.extensions import db

    assert ok(ranklet("db", "upgrade")).stderr.endswith("The database schema is up to date.\n")
    assert listed(ranklet) == {}
    with cli_app.app_context(), db.engine.connect() as connection:
        # sites.timezone (0002_language) included: the migrations and models agree.
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []


@pytest.mark.parametrize("slug", ["Bad Slug", "blog_1", "ブログ"])
def test_a_bad_slug_is_explained(ranklet, slug):
    message = failed(ranklet("site", "create", slug, "--origin", "https://blog.example.com"))
    assert message == (
        f"Error: {slug!r} cannot be a slug: use up to 63 lower-case letters, digits and "
        "hyphens, starting with a letter or digit (e.g. myblog)\n"
    )


# --- time zones ---------------------------------------------------------------------------------


def test_the_time_zone_follows_the_language_until_set(ranklet):
    ok(ranklet("site", "create", "en-blog", "--origin", "https://e.example", "--lang", "en"))
    assert listed(ranklet)["en-blog"]["timezone"] == "UTC"
    ok(ranklet("site", "update", "en-blog", "--timezone", "America/New_York"))
    assert listed(ranklet)["en-blog"]["timezone"] == "America/New_York"
    ok(ranklet("site", "update", "en-blog", "--lang", "ja", "--timezone", ""))
    assert listed(ranklet)["en-blog"]["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "JST+9", "../../etc/passwd", "asia/tokyo"])
def test_a_time_zone_that_is_not_one_is_refused(ranklet, site, zone):
    message = failed(ranklet("site", "update", "blog", "--timezone", zone))
    assert message == f"Error: {zone!r} is not an IANA time zone like Asia/Tokyo or UTC\n"
    assert listed(ranklet)["blog"]["timezone"] == "Asia/Tokyo"


# --- erase --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["not-an-email", "", "a@", "@example.com", "two words@x.jp"])
def test_erase_refuses_what_is_not_an_address(ranklet, site, value):
    message = failed(ranklet("erase", "blog", value, "--yes"))
    assert message == (
        f"Error: {value!r} is not an e-mail address; give the address the comments were "
        "posted with, e.g. reader@example.com\n"
    )


def test_erase_of_an_address_without_comments(ranklet, site):
    assert ok(ranklet("erase", "blog", "reader@example.com", "--yes")).stdout == (
        "Erased 0 comments of that address.\n"
    )


# --- serve and demo: a busy port changes nothing ------------------------------------------------


@pytest.fixture
def busy_port() -> Any:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Run ``demo``/``serve`` in-process up to the point where gunicorn would start."""
    import service.cli.main

    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(service.cli.main, "_run_server", lambda *args: started.append(args))
    return started


def _demo_token(output: str) -> str:
    line = next(line for line in output.splitlines() if line.strip().startswith("token:"))
    return line.split("token:")[1].strip()


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_busy_port_is_named_and_nothing_starts(ranklet, busy_port, no_server, command):
    result = ranklet(command, "--port", str(busy_port))
    assert failed(result) == (
        f"Error: Port {busy_port} on 127.0.0.1 is already in use (is another `ranklet demo` "
        f"or `ranklet serve` running?). Stop it or pass --port {busy_port + 1}.\n"
    )
    assert result.stdout == ""
    assert no_server == []


def test_demo_names_the_slug_and_a_second_start_on_a_busy_port_keeps_the_token(
    ranklet, cli_app, busy_port, no_server
):
    from service.core.crypto import token_matches
    from service.sites.settings import get_site

    port = free_port()
    first = ok(ranklet("demo", "--port", str(port)))
    assert "Sign in there with site: demo\n" in first.stdout
    assert f"Admin page: http://127.0.0.1:{port}/admin/" in first.stdout
    token = _demo_token(first.stdout)
    assert TOKEN_RE.match(token)
    assert len(no_server) == 1

    again = ranklet("demo", "--port", str(busy_port))
    assert "already in use" in failed(again)
    assert "token" not in again.stdout
    with cli_app.app_context():
        demo = get_site("demo")
        assert demo is not None and token_matches(token, demo.token_hash)
    assert len(no_server) == 1


def test_demo_comments_are_spread_over_the_days_after_the_article(ranklet, client, no_server):
    from datetime import UTC, datetime

    ok(ranklet("demo", "--port", str(free_port())))
    page = client.get("/api/v1/sites/demo/comments?article=/demo/").get_json()
    times = sorted(
        datetime.fromisoformat(c["created_at"]) for c in _walk_comments(page["comments"])
    )
    published = datetime(2026, 11, 20, tzinfo=UTC)
    assert len(times) == 7 and all(t > published for t in times)
    assert len({t.date() for t in times}) >= 5  # not all 「57 秒前」
    assert times[-1] - times[0] > timedelta(days=7)


def test_demo_history_is_seeded_at_a_morning_in_japan(ranklet, client, no_server):
    """Every seeded position was seen at 09:00 JST, so the admin's best-rank time reads as
    a morning (not 05:00), and the demo's bold next to 「」 renders without spaces."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ok(ranklet("demo", "--port", str(free_port())))
    history = client.get("/api/v1/sites/demo/rankings/consulting/history").get_json()["entries"]
    assert len(history) == 20
    tokyo = {
        datetime.fromisoformat(e["observed_at"]).astimezone(ZoneInfo("Asia/Tokyo")) for e in history
    }
    assert {(t.hour, t.minute) for t in tokyo} == {(9, 0)}
    page = client.get("/api/v1/sites/demo/comments?article=/demo/").get_json()
    bodies = " ".join(c["body_html"] for c in _walk_comments(page["comments"]))
    assert "<strong>「誰も使わないシステム」</strong>が残りました" in bodies
    assert "**" not in bodies


def _walk_comments(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for comment in comments:
        found.append(comment)
        found.extend(_walk_comments(comment["replies"]))
    return found


# --- a real process: stdout carries only the JSON -----------------------------------------------


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args)


def test_json_output_of_a_real_process(server_database, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    env.update(server_database)
    env["RANKLET_INSTANCE_PATH"] = str(tmp_path / "instance")
    upgrade = _run(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr

    created = _run(env, "site", "create", "blog", "--origin", "https://blog.example.com", "--json")
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)
    assert created.stdout.endswith("}\n") and created.stdout.count("\n") == 1
    assert set(data) == {"site", "token"} and TOKEN_RE.match(data["token"])

    rotated = _run(env, "token", "rotate", "blog", "--json")
    assert rotated.returncode == 0, rotated.stderr
    again = json.loads(rotated.stdout)
    assert rotated.stdout.count("\n") == 1
    assert again["site"] == "blog" and again["token"] != data["token"]

    ranked = _run(env, "rank", "set", "blog", "consulting", "3")
    assert ranked.returncode == 0, ranked.stderr
    assert "consulting: 3 recorded" in ranked.stdout

    bad = _run(env, "site", "update", "blog", "--origin", "not-an-origin")
    assert bad.returncode != 0
    assert bad.stderr.startswith("Error: ")
    assert "not an origin" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert bad.stdout == ""
