"""Contract §1: ``ranklet rank import`` / ``ranklet rank export`` of rank history."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

BASE = "/api/v1/sites/blog"
HEADER = "category,position,observed_at\n"


@pytest.fixture
def client(cli_app: Any) -> Any:
    return cli_app.test_client()


@pytest.fixture
def site(ranklet: Any) -> dict[str, str]:
    result = ranklet("site", "create", "blog", "--origin", "https://blog.example.com", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def refused(result: Any, *words: str) -> str:
    assert result.exit_code == 1, result.output
    message = result.stderr
    assert message.startswith("Error: "), message
    assert "Nothing was imported." in message
    for word in words:
        assert word in message, message
    assert "Traceback" not in result.output
    return message


def write(tmp_path: Path, text: str | bytes, name: str = "ranks.csv") -> str:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return str(path)


def entry_count(cli_app: Any) -> int:
    from service.core.extensions import db
    from service.db.models import RankEntry

    with cli_app.app_context():
        return db.session.scalar(select(func.count()).select_from(RankEntry))


def rankings(client: Any) -> dict[str, dict[str, Any]]:
    answer = client.get(f"{BASE}/rankings")
    assert answer.status_code == 200
    return {c["key"]: c for c in answer.get_json()["categories"]}


def test_csv_import_records_history_and_is_idempotent(ranklet, client, site, tmp_path):
    path = write(
        tmp_path,
        HEADER + "consulting,5,2024-01-01T09:00:00+09:00\n"
        "consulting,3,2024-02-01T09:00:00+09:00\n"
        "marketing,12,2024-02-01T00:00:00Z\n",
    )
    first = ok(ranklet("rank", "import", path, "--site", "blog")).stdout
    assert "Imported 3 rows: 3 new, 0 changed" in first
    assert "New best in consulting: 3 (first entry)." in first
    documents = rankings(client)
    assert documents["consulting"]["best"] == {
        "position": 3,
        "observed_at": "2024-02-01T00:00:00Z",
    }
    assert documents["consulting"]["current"]["position"] == 3
    assert documents["consulting"]["entries"] == 2
    assert documents["marketing"]["current"] == {
        "position": 12,
        "observed_at": "2024-02-01T00:00:00Z",
    }
    again = ok(ranklet("rank", "import", path, "--site", "blog")).stdout
    assert (
        "Imported 3 rows: 0 new, 0 changed (another position at the same time), 3 already" in again
    )
    assert "New best" not in again
    assert rankings(client) == documents


def test_same_time_with_another_position_replaces_it(ranklet, client, site, tmp_path):
    ok(
        ranklet(
            "rank",
            "import",
            write(tmp_path, HEADER + "consulting,5,2024-01-01T00:00:00Z\n"),
            "--site",
            "blog",
        )
    )
    out = ok(
        ranklet(
            "rank",
            "import",
            write(tmp_path, HEADER + "consulting,4,2024-01-01T00:00Z\n"),
            "--site",
            "blog",
        )
    ).stdout
    assert "0 new, 1 changed" in out
    assert "New best in consulting: 4 (previous best 5)." in out
    assert rankings(client)["consulting"]["entries"] == 1
    assert rankings(client)["consulting"]["best"]["position"] == 4


def test_dry_run_writes_nothing(ranklet, cli_app, client, site, tmp_path):
    path = write(tmp_path, HEADER + "consulting,5,2024-01-01T00:00:00Z\n")
    out = ok(ranklet("rank", "import", path, "--site", "blog", "--dry-run")).stdout
    assert "Would import 1 rows: 1 new" in out
    assert "Dry run: nothing was written." in out
    assert entry_count(cli_app) == 0
    assert rankings(client)["consulting"]["current"] is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("consulting,0,2024-01-01T00:00:00Z\n", ["line 3: position must be a whole number"]),
        (
            "consulting,1000001,2024-01-01T00:00:00Z\n",
            ["line 3: position must be a whole number from 1 to 1,000,000"],
        ),
        ("consulting,4.5,2024-01-01T00:00:00Z\n", ["line 3: position"]),
        ("consulting,-4,2024-01-01T00:00:00Z\n", ["line 3: position"]),
        ("consulting," + "9" * 10_000 + ",2024-01-01T00:00:00Z\n", ["line 3: position"]),
        ("consulting,４,2024-01-01T00:00:00Z\n", ["line 3: position"]),
        ("consulting,4,2024-01-01T09:00:00\n", ["line 3: observed_at", "add a zone, e.g. +09:00"]),
        ("consulting,4,yesterday\n", ["line 3: observed_at 'yesterday' is not a time"]),
        ("consulting,4,2024-02-30T00:00:00Z\n", ["line 3: observed_at", "not a valid time"]),
        ("consulting,4,2999-01-01T00:00:00Z\n", ["line 3: observed_at", "in the future"]),
        (
            "sales,4,2024-01-01T00:00:00Z\n",
            [
                "line 3: unknown category 'sales'",
                "PUT /api/v1/sites/blog/categories/sales",
                "consulting, management, marketing",
            ],
        ),
        ("Bad Key,4,2024-01-01T00:00:00Z\n", ["line 3: category must be"]),
        (
            "consulting,4,2024-01-01T00:00:00Z,extra,more\n",
            ["line 3: 5 fields, but the header has 3"],
        ),
        (
            "consulting,3,2024-01-01T09:00:00+09:00\n",
            ["line 3: consulting at 2024-01-01T00:00:00Z is on line 2 already"],
        ),
        ('"consulting,4\n', ["line"]),
    ],
)
def test_a_bad_row_refuses_the_whole_file_with_its_line(
    ranklet, cli_app, site, tmp_path, body, words
):
    path = write(tmp_path, HEADER + "consulting,4,2024-01-01T00:00:00Z\n" + body)
    refused(ranklet("rank", "import", path, "--site", "blog"), *words)
    assert entry_count(cli_app) == 0


def test_hostile_bytes(ranklet, cli_app, client, site, tmp_path):
    # BOM, CRLF, extra columns in the header, spaces and blank lines: all fine.
    text = (
        "\ufeffCategory, Position ,observed_at,note\r\n"
        "consulting, 7 ,2024-01-01T00:00:00Z,from the sheet\r\n"
        "\r\n"
        "management,2,2024-01-02 00:00:00+09:00,\r\n"
        ",,,\r\n"
    )
    out = ok(ranklet("rank", "import", write(tmp_path, text), "--site", "blog")).stdout
    assert "Imported 2 rows: 2 new" in out
    assert rankings(client)["management"]["current"] == {
        "position": 2,
        "observed_at": "2024-01-01T15:00:00Z",
    }
    refused(
        ranklet(
            "rank",
            "import",
            write(
                tmp_path,
                HEADER + "consulting,4,2024-01-03T00:00:00Z\n"
                "consul\x00ting,4,2024-01-04T00:00:00Z\n",
            ),
            "--site",
            "blog",
        ),
        "line 3: contains a NUL character",
    )
    refused(
        ranklet(
            "rank",
            "import",
            write(tmp_path, b"category,position,observed_at\n\xff\xfe,1,x\n"),
            "--site",
            "blog",
        ),
        "line 2: not UTF-8 text",
    )
    refused(
        ranklet(
            "rank",
            "import",
            write(tmp_path, "position,observed_at\n4,2024-01-01T00:00:00Z\n"),
            "--site",
            "blog",
        ),
        "line 1: the header must name the columns",
        "missing: category",
    )
    refused(ranklet("rank", "import", write(tmp_path, ""), "--site", "blog"), "line 1: the header")
    refused(
        ranklet("rank", "import", write(tmp_path, "{not json", "x.json"), "--site", "blog"),
        "not valid JSON",
    )
    refused(
        ranklet(
            "rank",
            "import",
            write(tmp_path, HEADER + "consulting,4," + "9" * 200_000 + "\n"),
            "--site",
            "blog",
        ),
        "line 2",
    )
    assert entry_count(cli_app) == 2


def test_json_import_checks_each_entry(ranklet, cli_app, site, tmp_path):
    document = {
        "format": "ranklet-rank-history",
        "version": 1,
        "entries": [
            {"category": "consulting", "position": 4, "observed_at": "2024-01-01T00:00:00Z"},
            {"category": "consulting", "position": True, "observed_at": "2024-01-02T00:00:00Z"},
            {"category": "consulting", "position": "4", "observed_at": "2024-01-03T00:00:00Z"},
            "nope",
        ],
    }
    refused(
        ranklet(
            "rank", "import", write(tmp_path, json.dumps(document), "r.json"), "--site", "blog"
        ),
        "entry 2: position must be",
        "entry 3: position must be",
        "entry 4: not an object",
    )
    assert entry_count(cli_app) == 0
    refused(
        ranklet("rank", "import", write(tmp_path, '{"entries": 3}', "r.json"), "--site", "blog"),
        "not a `ranklet rank export` file",
    )


def test_export_shapes(ranklet, site, tmp_path):
    ok(ranklet("rank", "set", "blog", "marketing", "9", "--at", "2024-03-01T00:00:00.250000Z"))
    ok(ranklet("rank", "set", "blog", "consulting", "4", "--at", "2024-03-02T09:00:00+09:00"))
    assert json.loads(ok(ranklet("rank", "export", "blog")).stdout) == {
        "format": "ranklet-rank-history",
        "version": 1,
        "site": "blog",
        "entries": [
            {"category": "consulting", "position": 4, "observed_at": "2024-03-02T00:00:00Z"},
            {"category": "marketing", "position": 9, "observed_at": "2024-03-01T00:00:00.250000Z"},
        ],
    }
    assert ok(ranklet("rank", "export", "blog", "--csv")).stdout == (
        HEADER + "consulting,4,2024-03-02T00:00:00Z\n" + "marketing,9,2024-03-01T00:00:00.250000Z\n"
    )
    assert ranklet("rank", "export", "nosuch").exit_code == 1


def test_ten_thousand_rows_round_trip_exactly_and_fast(ranklet, client, site, tmp_path):
    rng = random.Random(14)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    keys = ["consulting", "management", "marketing"]
    lines = []
    for i in range(10_000):
        at = start + timedelta(hours=7 * i, microseconds=rng.choice([0, 0, 123456]))
        zone = rng.choice(["Z", "+09:00", "-05:30"])
        offset = {"Z": 0, "+09:00": 9 * 60, "-05:30": -330}[zone]
        local = (at + timedelta(minutes=offset)).replace(tzinfo=None).isoformat()
        lines.append(f"{keys[i % 3]},{rng.randint(1, 1_000_000)},{local}{zone}\n")
    path = write(tmp_path, HEADER + "".join(lines))
    began = time.perf_counter()
    out = ok(ranklet("rank", "import", path, "--site", "blog")).stdout
    elapsed = time.perf_counter() - began
    assert "Imported 10000 rows: 10000 new" in out
    assert elapsed < 10, f"10,000 rows took {elapsed:.1f} s"
    assert sum(c["entries"] for c in rankings(client).values()) == 10_000

    exported_json = ok(ranklet("rank", "export", "blog")).stdout
    exported_csv = ok(ranklet("rank", "export", "blog", "--csv")).stdout
    ok(ranklet("site", "create", "copy", "--origin", "https://copy.example.com", "--json"))
    ok(ranklet("rank", "import", write(tmp_path, exported_json, "e.json"), "--site", "copy"))
    again = json.loads(ok(ranklet("rank", "export", "copy")).stdout)
    assert again["site"] == "copy"
    assert again["entries"] == json.loads(exported_json)["entries"]
    assert len(again["entries"]) == 10_000
    ok(ranklet("site", "create", "csv-copy", "--origin", "https://c.example.com", "--json"))
    ok(ranklet("rank", "import", write(tmp_path, exported_csv, "e.csv"), "--site", "csv-copy"))
    assert ok(ranklet("rank", "export", "csv-copy", "--csv")).stdout == exported_csv
    # And back into the first site: all there already, nothing written.
    out = ok(ranklet("rank", "import", write(tmp_path, exported_csv, "e.csv"), "--site", "blog"))
    assert "0 new, 0 changed (another position at the same time), 10000 already there" in out.stdout
