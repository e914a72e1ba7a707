"""`ranklet import movabletype` (contract §1 "Importing from Movable Type format", issue 21).

The files are real ones from tests/data (README-mt-blogger.md says where each comes from)
and the variants derived from them; everything runs through the CLI as a user runs it, on
SQLite and PostgreSQL, and what was stored is compared with what the public API shows.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import assert_import_memory_flat, run_cli
from test_transfer import make_site, ok, refused, rows
from test_wordpress_import import thread_comments

DATA = Path(__file__).parent / "data"
REAL = str(DATA / "mt-aereal-ok.txt")
HATENA = str(DATA / "mt-hatena-image.txt")
HATENA_ARTICLE = "/entry/2017/03/18/182252"


def write_map(tmp_path: Path, text: str, name: str = "map.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def title_map(tmp_path: Path) -> str:
    return write_map(
        tmp_path,
        "title,path\nA dummy title,/2007/08/dummy.html\n2件目の記事,/2007/08/second.html\n",
    )


def by_author(cli_app: Any, slug: str = "blog") -> dict[str, dict[str, Any]]:
    return {
        c["author"]: {**c, "article": article}
        for article, comments in thread_comments(cli_app, slug).items()
        for c in comments
    }


def public(cli_app: Any, article: str) -> dict[str, Any]:
    answer = cli_app.test_client().get(f"/api/v1/sites/blog/comments?article={article}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_real_export_with_a_title_map(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    site = make_site(ranklet, "blog")
    mapping = title_map(tmp_path)
    out = ok(ranklet("import", "movabletype", REAL, "--site", site.slug, "--map", mapping)).stdout
    assert "Movable Type import into site 'blog': committed in one transaction." in out
    assert "Threads:  2 (2 new)" in out and "Comments: 3 imported (3 approved)" in out, out
    assert "Read 2 entries as UTF-8, dates in Asia/Tokyo." in out

    stored = by_author(cli_app)
    assert stored["Foo"]["article"] == stored["Bar"]["article"] == "/2007/08/dummy.html"
    assert stored["Foo"]["title"] == "A dummy title"
    assert stored["Quux"]["article"] == "/2007/08/second.html"
    assert stored["Quux"]["title"] == "2件目の記事"
    # Zone-less dates read in the site's zone (ja: Asia/Tokyo), 24-hour and AM/PM.
    assert stored["Foo"]["created_at"].startswith("2002-01-31T06:47:06")
    assert stored["Bar"]["created_at"].startswith("2002-01-31T19:02:07")  # 04:02:07 AM JST
    assert stored["Quux"]["created_at"].startswith("2002-01-31T07:23:01")  # 04:23:01 PM JST
    assert stored["Foo"]["html"] == "<p>ここに<br>\nこのコメントの本文が来ます。</p>"
    assert stored["Quux"]["website"] == "http://www.quux.com/"  # the href of the HTML link
    assert stored["Bar"]["email"] and "me@bar.com" not in stored["Bar"]["email"]
    assert "205.66.1.32" not in json.dumps(thread_comments(cli_app, "blog"))
    exported = ok(ranklet("export", "blog")).stdout
    assert "me@bar.com" in exported and "205.66.1.32" not in exported

    # What the public API shows is what was stored.
    page = public(cli_app, "/2007/08/dummy.html")
    assert page["total"] == 2
    shown = {c["author"]: c for c in page["comments"]}
    assert shown["Foo"]["created_at"] == "2002-01-31T06:47:06Z"
    assert shown["Foo"]["body_html"] == stored["Foo"]["html"]
    assert "これは2番目の<br>" in shown["Bar"]["body_html"]

    # A second run adds nothing: comments are known again by entry, author, date and text.
    before = rows(cli_app)
    again = ok(ranklet("import", "movabletype", REAL, "--site", "blog", "--map", mapping)).stdout
    assert "Comments: 0 imported" in again and "3 × already imported" in again
    assert rows(cli_app)["comments"] == before["comments"]


def test_two_entries_on_one_path_are_refused_by_name(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """The real file gives both entries BASENAME "filename": nothing may be written, even
    though the first entry's comments were read before the second entry was met."""
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    result = ranklet(
        "import", "movabletype", REAL, "--site", site.slug, "--permalink", "/{basename}"
    )
    message = refused(result, "two entries map to the path /filename", "'A dummy title'")
    assert "'2件目の記事'" in message
    assert rows(cli_app) == before
    basename_map = write_map(tmp_path, "basename,path\nfilename,/x\n")
    result = ranklet("import", "movabletype", REAL, "--site", "blog", "--map", basename_map)
    refused(result, "two entries map to the path /x")
    assert rows(cli_app) == before


def test_unmapped_entries_are_named_and_left_out(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    mapping = write_map(tmp_path, "title,path\nA dummy title,https://blog.example.com/dummy/\n")
    out = ok(ranklet("import", "movabletype", REAL, "--site", site.slug, "--map", mapping)).stdout
    assert "Comments: 2 imported" in out
    assert "1 × on an entry with no path" in out
    assert "Entries with no path, left out (1): '2件目の記事' (line 36)." in out
    assert set(thread_comments(cli_app, "blog")) == {"/dummy/"}


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("mt-aereal-ok-sjis.txt", [], "Shift_JIS (CP932)"),
        ("mt-aereal-ok-sjis.txt", ["--encoding", "shift_jis"], "Shift_JIS (CP932)"),
        ("mt-aereal-ok-eucjp.txt", [], "EUC-JP"),
        ("mt-aereal-ok-eucjp.txt", ["--encoding", "euc-jp"], "EUC-JP"),
        ("mt-aereal-ok-crlf.txt", [], "UTF-8"),
        ("mt-aereal-ok-hyphens.txt", ["--encoding", "utf-8"], "UTF-8"),
    ],
)
def test_encodings_line_ends_and_hyphen_lines(
    ranklet: Any, cli_app: Any, name: str, options: list[str], words: str
) -> None:
    site = make_site(ranklet, "blog")
    path = str(DATA / name)
    raw = Path(path).read_bytes()
    if "crlf" in name:  # the variants are what they say they are
        assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == raw.count(b"\n")
    elif "sjis" in name or "eucjp" in name:
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    args = ["--permalink", "/{year}/{month}/{basename}.html", *options]
    out = ok(ranklet("import", "movabletype", path, "--site", site.slug, *args)).stdout
    assert f"as {words}, dates in Asia/Tokyo" in out and "Comments: 3 imported" in out, out
    stored = by_author(cli_app)
    assert stored["Quux"]["article"] == "/2007/08/filename2.html"
    assert stored["Quux"]["title"] == "2件目の記事"
    assert "この記事に対する最初のコメントを示します。" in stored["Quux"]["html"]
    assert "\r" not in stored["Foo"]["html"] and "\ufeff" not in stored["Foo"]["title"]
    if "hyphens" in name:  # a comment that quotes a line of hyphens keeps it
        assert stored["Foo"]["html"] == "<p>ここに<br>\n-----<br>\nこのコメントの本文が来ます。</p>"
    else:
        assert stored["Foo"]["html"] == "<p>ここに<br>\nこのコメントの本文が来ます。</p>"


def test_hatena_export_with_image_ping_and_draft(ranklet: Any, cli_app: Any) -> None:
    site = make_site(ranklet, "blog")
    args = ["--site", site.slug, "--permalink", "/entry/{basename}"]
    out = ok(ranklet("import", "movabletype", HATENA, *args)).stdout
    assert "Threads:  1 (1 new)" in out and "Comments: 2 imported (2 approved)" in out, out
    assert "1 × trackback (PING), not a reader comment" in out
    stored = thread_comments(cli_app, "blog")
    assert set(stored) == {HATENA_ARTICLE}
    first, second = stored[HATENA_ARTICLE]
    assert first["title"] == "万能じゃない。オブジェクトストレージの仕組みと利用を正しく理解する"
    assert first["author"] == "id:reader1" and first["website"] is None
    assert first["html"] == (
        "<p>わかりやすい解説ありがとうございます。</p>\n"
        "<p>S3 の整合性モデルの話も読みたいです。</p>"
    )
    assert first["created_at"].startswith("2017-03-19T00:05:00")
    assert second["website"] == "https://blog.mosuke.tech/"
    assert "192.0.2" not in json.dumps(stored) and "cdn-ak" not in json.dumps(stored)
    page = public(cli_app, HATENA_ARTICLE)
    assert [c["author"] for c in page["comments"]] == ["id:reader1", "mosuke5"]
    assert "どこかのブログ" not in json.dumps(page)


def test_timezone_option_and_english_site_default(ranklet: Any, cli_app: Any) -> None:
    make_site(ranklet, "blog")
    args = ["--permalink", "/entry/{basename}", "--timezone", "America/New_York"]
    ok(ranklet("import", "movabletype", HATENA, "--site", "blog", *args))
    assert thread_comments(cli_app, "blog")[HATENA_ARTICLE][0]["created_at"].startswith(
        "2017-03-19T13:05:00"
    )
    make_site(ranklet, "english", "--lang", "en")
    out = ok(
        ranklet("import", "movabletype", HATENA, "--site", "english", "--permalink", "/{basename}")
    ).stdout
    assert "dates in UTC" in out
    comments = thread_comments(cli_app, "english")["/2017/03/18/182252"]
    assert comments[0]["created_at"].startswith("2017-03-19T09:05:00")
    bad = ranklet("import", "movabletype", HATENA, "--site", "blog", "--permalink", "/x/{basename}",
                  "--timezone", "../../etc/passwd")  # fmt: skip
    assert bad.exit_code == 1 and "not an IANA time zone" in bad.stderr


def test_dry_run_writes_nothing(ranklet: Any, cli_app: Any) -> None:
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    args = ["--site", site.slug, "--permalink", "/entry/{basename}", "--dry-run"]
    out = ok(ranklet("import", "movabletype", HATENA, *args)).stdout
    assert "dry run, nothing was written" in out and "Comments: 2 imported" in out
    assert rows(cli_app) == before


def entry(comments: str, title: str = "T", basename: str = "b") -> str:
    return (
        f"AUTHOR: a\nTITLE: {title}\nBASENAME: {basename}\nSTATUS: Publish\n"
        f"DATE: 01/02/2020 03:04:05 PM\n-----\nBODY:\nbody\n-----\n{comments}--------\n"
    )


def comment(text: str, date: str = "01/03/2020 10:00:00", author: str = "r") -> str:
    return f"COMMENT:\nAUTHOR: {author}\nDATE: {date}\n{text}\n-----\n"


def test_hostile_text_is_sanitized_or_skipped(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    site = make_site(ranklet, "blog")
    text = entry(
        comment(
            'x<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:a()">j</a>'
        )
        + comment("y" * 6000, author="long")
        + comment("no date", date="yesterday", author="nodate")
        + comment("z" * (3 << 20), author="huge line")
        + "COMMENT:\nAUTHOR: evil\nDATE: 01/03/2020 11:00:00\nURL: javascript:alert(1)\n"
        "EMAIL: not-an-address\nok \x00\u202etext\n-----\n"
    )
    text = text.replace("BODY:\nbody\n", "BODY:\n" + "<p>" + "b" * (3 << 20) + "</p>\n")
    path = tmp_path / "hostile.txt"
    path.write_text(text, encoding="utf-8")
    args = ["--site", site.slug, "--permalink", "/{basename}"]
    out = ok(ranklet("import", "movabletype", str(path), *args)).stdout
    assert "Comments: 2 imported" in out, out
    assert "2 × body longer than 5,000 characters" in out
    assert "2 lines longer than 1,048,576 characters were cut there" in out
    assert "1 × comment without a valid DATE" in out
    stored = by_author(cli_app)
    html = stored["r"]["html"]
    assert "<script" not in html and "alert" not in html and "onerror" not in html
    assert "javascript" not in html and "<img" not in html
    assert stored["evil"]["website"] is None and stored["evil"]["email"] is None
    assert "\x00" not in stored["evil"]["html"]


@pytest.mark.parametrize(
    ("content", "options", "words"),
    [
        (b"\xff\xfe\x00garbage\x81\x00\xfe", [], ["not text in UTF-8, Shift_JIS or EUC-JP"]),
        ("コメント".encode("cp932") + b"\n", ["--encoding", "utf-8"], ["line 1", "not UTF-8"]),
        (b'<?xml version="1.0"?><rss><channel/></rss>\n', [], ["not a Movable Type export"]),
        (b"", [], ["not a Movable Type export"]),
    ],
)
def test_broken_files_are_refused(
    ranklet: Any, cli_app: Any, tmp_path: Path, content: bytes, options: list[str], words: list[str]
) -> None:
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    path = tmp_path / "broken.txt"
    path.write_bytes(content)
    args = ["--site", site.slug, "--permalink", "/{basename}", *options]
    refused(ranklet("import", "movabletype", str(path), *args), *words)
    assert rows(cli_app) == before


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--permalink", "/{slug}"], ["{slug}", "placeholders are"]),
        (["--permalink", "entry/{basename}"], ["must be a path"]),
        (["--map", "header"], ["title,path or basename,path"]),
        (["--map", "clash"], ["lines 2 and 3", "two different paths"]),
        (["--map", "relative"], ["line 2", "starting with /"]),
    ],
)
def test_bad_paths_options_are_refused(
    ranklet: Any, cli_app: Any, tmp_path: Path, options: list[str], words: list[str]
) -> None:
    site = make_site(ranklet, "blog")
    maps = {
        "header": "name,url\na,/a\n",
        "clash": "title,path\nA dummy title,/a\nA dummy title,/b\n",
        "relative": "title,path\nA dummy title,a.html\n",
    }
    if options[0] == "--map":
        options = ["--map", write_map(tmp_path, maps[options[1]])]
    refused(ranklet("import", "movabletype", REAL, "--site", site.slug, *options), *words)
    both = ranklet("import", "movabletype", REAL, "--site", "blog")
    assert both.exit_code == 1 and "--permalink" in both.stderr and "--map" in both.stderr


def on_a_terminal(env: dict[str, str], *args: str) -> tuple[Any, bytes]:
    """Run ``ranklet ARGS`` with stderr on a pseudo-terminal: (the run, what stderr showed)."""
    leader, follower = pty.openpty()
    try:
        shown = subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env={**env, "PYTHONPATH": str(Path(__file__).parent.parent)},
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return shown, screen


def test_through_the_console_script_with_progress_on_a_terminal(
    tmp_path: Path, database_url: str
) -> None:
    """As a user runs it: the installed command; a progress bar only on a terminal."""
    env = {
        **os.environ,
        "RANKLET_DATABASE_URL": database_url,
        "RANKLET_SECRET_KEY": "subprocess-key",
        "RANKLET_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    assert run_cli(env, "site", "create", "blog", "--origin", "https://b.example").returncode == 0
    args = ["import", "movabletype", HATENA, "--site", "blog", "--permalink", "/entry/{basename}"]
    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    assert "Comments: 2 imported" in done.stdout and "Importing" not in done.stderr
    shown, screen = on_a_terminal(env, *args, "--dry-run")
    assert shown.returncode == 0
    assert b"Importing from Movable Type" in screen and b"100%" in screen
    assert "0 imported" in shown.stdout and "2 × already imported" in shown.stdout


def test_memory_stays_flat(cli_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tracemalloc's peak over reader and writer: 10,000 comments may not take more than
    1,000 do by more than a few hundred KiB (any per-comment state would be ~1 MiB)."""

    from service.transfer import pipeline
    from service.transfer import rows as transfer_rows
    from service.transfer.movabletype import read_movabletype

    monkeypatch.setattr(pipeline, "BATCH_ROWS", 100)
    monkeypatch.setattr(transfer_rows, "PARALLEL_FROM_BATCH", 10**9)

    def export(count: int) -> Path:
        path = tmp_path / f"{count}.txt"
        with path.open("w", encoding="utf-8") as out:
            for post in range(count // 50):
                comments = "".join(
                    comment(
                        f"comment {n} on {post}\n\nsecond paragraph", f"01/03/2020 10:{n:02d}:00"
                    )
                    for n in range(50)
                )
                out.write(entry(comments, f"post {post}", f"b{post}"))
        return path

    assert_import_memory_flat(
        cli_app, export, lambda path: read_movabletype(path, permalink="/{basename}/")
    )


def test_twelve_hour_clock_edges_and_missing_seconds(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """12 AM is midnight, 12 PM noon; some services write no seconds; hour 13 PM is no time."""
    site = make_site(ranklet, "blog", "--lang", "en")  # dates in UTC
    text = entry(
        comment("midnight", "01/03/2020 12:10:00 AM", "a")
        + comment("noon", "01/03/2020 12:10:00 PM", "b")
        + comment("no seconds", "1/3/2020 9:05", "c")
        + comment("impossible", "01/03/2020 13:10:00 PM", "d")
        + "COMMENT:\nAUTHOR: e\nSECRET: 0\nDATE: 01/04/2020 10:00:00\n"
        + "Nice: a key that is not upper-case is text\n-----\n"
    )
    path = tmp_path / "clock.txt"
    path.write_text(text, encoding="utf-8")
    out = ok(
        ranklet(
            "import", "movabletype", str(path), "--site", site.slug, "--permalink", "/{basename}"
        )
    ).stdout
    assert "Comments: 4 imported" in out and "1 × comment without a valid DATE" in out
    stored = by_author(cli_app)
    assert stored["a"]["created_at"].startswith("2020-01-03T00:10:00")
    assert stored["b"]["created_at"].startswith("2020-01-03T12:10:00")
    assert stored["c"]["created_at"].startswith("2020-01-03T09:05:00")
    assert stored["e"]["html"] == "<p>Nice: a key that is not upper-case is text</p>"
