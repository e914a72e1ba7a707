"""`ranklet import blogger` (contract §1 "Importing from Movable Type format and Blogger").

Both of Blogger's files: the "Back up content" Atom backup and Google Takeout's
``feed.atom`` (tests/data, README-mt-blogger.md says where each comes from). Through the
CLI as a user runs it, on SQLite and PostgreSQL, compared with what the public API shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import assert_import_memory_flat, run_cli
from test_mt_import import on_a_terminal
from test_transfer import make_site, ok, refused, rows
from test_wordpress_import import thread_comments

DATA = Path(__file__).parent / "data"
BACKUP = str(DATA / "blogger-backup.xml")
TAKEOUT = str(DATA / "blogger-takeout-feed.atom")
POST = "/2012/08/blog-post.html"


def by_author(cli_app: Any) -> dict[str, dict[str, Any]]:
    return {
        c["author"]: {**c, "article": article}
        for article, comments in thread_comments(cli_app, "blog").items()
        for c in comments
    }


def public(cli_app: Any, article: str) -> dict[str, Any]:
    answer = cli_app.test_client().get(f"/api/v1/sites/blog/comments?article={article}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_back_up_content_file(ranklet: Any, cli_app: Any) -> None:
    site = make_site(ranklet, "blog")
    out = ok(ranklet("import", "blogger", BACKUP, "--site", site.slug)).stdout
    assert "Blogger import into site 'blog': committed in one transaction." in out
    assert "Threads:  2 (2 new)" in out and "Comments: 3 imported (3 approved)" in out, out
    assert "1 × deleted or trashed in Blogger" in out
    assert "Read as Blogger backup" in out and "1 settings, 1 template" in out
    stored = by_author(cli_app)
    tanaka, keiko, suzuki = stored["たなか"], stored["Keiko"], stored["すずき"]
    assert tanaka["article"] == keiko["article"] == POST and tanaka["title"] == "蘇州へ"
    assert suzuki["article"] == "/p/profile.html" and suzuki["title"] == "プロフィール"
    # The reply comes before its parent in the file; the related link names the parent.
    assert keiko["parent_id"] == tanaka["id"] and keiko["depth"] == 2
    assert keiko["is_author"] is True and tanaka["is_author"] is False  # the post's profile
    assert keiko["email"] is None  # noreply@blogger.com is no address
    assert tanaka["email"] and "tanaka@example.jp" not in tanaka["email"]
    assert tanaka["website"] == "http://tanaka.example.jp/"
    assert tanaka["created_at"].startswith("2012-08-13T13:00:00")  # +09:00 kept exactly
    assert "<script" not in tanaka["html"] and "alert" not in tanaka["html"]
    assert tanaka["html"].startswith("いいですね！<br><br>写真も見たいです。")
    assert "削除されました" not in json.dumps(stored)

    page = public(cli_app, POST)
    assert page["total"] == 2
    [top] = page["comments"]
    assert top["author"] == "たなか" and top["created_at"] == "2012-08-13T13:00:00Z"
    assert [r["author"] for r in top["replies"]] == ["Keiko"]
    assert top["replies"][0]["is_author"] is True

    before = rows(cli_app)
    again = ok(ranklet("import", "blogger", BACKUP, "--site", "blog")).stdout
    assert "Comments: 0 imported" in again and "3 × already imported" in again
    assert rows(cli_app) == before


def test_takeout_feed_atom(ranklet: Any, cli_app: Any) -> None:
    site = make_site(ranklet, "blog")
    out = ok(ranklet("import", "blogger", TAKEOUT, "--site", site.slug)).stdout
    assert "Comments: 4 imported (2 approved, 1 pending, 1 spam)" in out, out
    assert "1 × deleted or trashed in Blogger" in out
    assert "Read as Google Takeout feed.atom" in out
    stored = by_author(cli_app)
    anonymous, bernd = stored["Anonymous"], stored["Bernd"]
    assert anonymous["article"] == "/2011/10/nach-suzhou.html"  # blogger:filename
    assert bernd["parent_id"] == anonymous["id"]  # blogger:inReplyTo, listed before its post
    assert bernd["is_author"] is True and anonymous["is_author"] is False
    assert stored["Cheap Watches"]["status"] == "spam"
    assert stored["Leserin"]["status"] == "pending"
    assert stored["Leserin"]["article"] == "/p/about.html"
    assert "Gelöschter Leser" not in stored
    page = public(cli_app, "/2011/10/nach-suzhou.html")
    assert page["total"] == 2
    assert "watches" not in json.dumps(page)
    assert page["comments"][0]["replies"][0]["body_html"] == "Danke! Die Bilder kommen noch."


def test_dry_run_writes_nothing(ranklet: Any, cli_app: Any) -> None:
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    out = ok(ranklet("import", "blogger", TAKEOUT, "--site", site.slug, "--dry-run")).stdout
    assert "dry run, nothing was written" in out and "Comments: 4 imported" in out
    assert rows(cli_app) == before


def takeout(entries: str) -> str:
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom'"
        " xmlns:blogger='http://schemas.google.com/blogger/2018'>" + entries + "</feed>"
    )


def post(number: int, extra: str = "") -> str:
    return (
        f"<entry><id>tag:blogger.com,1999:blog-1.post-{number}</id><blogger:type>POST"
        f"</blogger:type><blogger:status>LIVE</blogger:status><title>P{number}</title>"
        f"<blogger:filename>/p{number}.html</blogger:filename>{extra}</entry>"
    )


def reply(number: int, on: int, content: str, extra: str = "") -> str:
    return (
        f"<entry><id>tag:blogger.com,1999:blog-1.post-{number}</id>"
        f"<blogger:parent>tag:blogger.com,1999:blog-1.post-{on}</blogger:parent>"
        "<blogger:type>COMMENT</blogger:type><blogger:status>LIVE</blogger:status>"
        f"<author><name>n{number}</name><email>noreply@blogger.com</email></author>"
        f"<content type='html'>{content}</content>"
        f"<published>2020-01-01T00:00:{number % 60:02d}Z</published>{extra}</entry>"
    )


def test_hostile_and_unusual_entries(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    site = make_site(ranklet, "blog")
    text = takeout(
        post(1)
        + post(2, "<blogger:trashed>2021-01-01T00:00:00Z</blogger:trashed>")
        + reply(10, 1, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;")
        + reply(11, 1, "x" * 6000)
        + reply(12, 2, "on a trashed post")
        + reply(13, 99, "on a post not in the file")
        + reply(14, 1, "odd").replace(">LIVE<", ">WEIRD<")
        + reply(15, 1, "plain &amp; &lt;b&gt;text", "").replace("type='html'", "type='text'")
    )
    path = tmp_path / "feed.atom"
    path.write_text(text, encoding="utf-8")
    out = ok(ranklet("import", "blogger", str(path), "--site", site.slug)).stdout
    assert "Comments: 3 imported" in out, out
    assert "1 × body longer than 5,000 characters" in out
    assert "1 × comment on a deleted post" in out
    assert "1 × comment on a post that is not in the file" in out
    assert "unknown blogger:status 'WEIRD': held as pending" in out
    assert "comments gave Blogger's placeholder noreply@blogger.com" in out
    stored = by_author(cli_app)
    assert all(c["email"] is None for c in stored.values())
    assert "<script" not in stored["n10"]["html"] and "alert" not in stored["n10"]["html"]
    assert "<strong>bold</strong>" in stored["n10"]["html"]
    assert stored["n14"]["status"] == "pending"
    assert "&lt;b&gt;" in stored["n15"]["html"] and "<b>" not in stored["n15"]["html"]


XXE = """<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>&xxe;</title></entry></feed>"""


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (XXE, ["DTD"]),
        (Path(BACKUP).read_text(encoding="utf-8")[:3000], ["truncated"]),
        ("<rss><channel/></rss>", ["not a Blogger export", "<rss>"]),
        ("<feed xmlns='http://www.w3.org/2005/Atom'></feed>", ["no posts, pages or comments"]),
        ("", ["not a complete"]),
        ("\xff\xfe garbage", ["not an XML file"]),
    ],
)
def test_broken_files_are_refused(
    ranklet: Any, cli_app: Any, tmp_path: Path, text: str, words: list[str]
) -> None:
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    message = refused(ranklet("import", "blogger", str(path), "--site", site.slug), *words)
    assert "root:" not in message
    assert rows(cli_app) == before


def test_through_the_console_script(tmp_path: Path, database_url: str) -> None:
    env = {
        **os.environ,
        "RANKLET_DATABASE_URL": database_url,
        "RANKLET_SECRET_KEY": "subprocess-key",
        "RANKLET_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    assert run_cli(env, "site", "create", "blog", "--origin", "https://b.example").returncode == 0
    done = run_cli(env, "import", "blogger", BACKUP, "--site", "blog")
    assert done.returncode == 0, done.stderr
    assert "Comments: 3 imported" in done.stdout and "Importing" not in done.stderr
    again = run_cli(env, "import", "blogger", TAKEOUT, "--site", "blog")
    assert "Comments: 4 imported" in again.stdout, again.stderr
    shown, screen = on_a_terminal(env, "import", "blogger", BACKUP, "--site", "blog", "--dry-run")
    assert shown.returncode == 0 and "3 × already imported" in shown.stdout
    assert b"Importing from Blogger" in screen and b"100%" in screen


def test_memory_stays_flat(cli_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tracemalloc's peak over both passes and the writer: 10,000 comments may not take
    more than 1,000 do by more than a few hundred KiB."""

    from service.transfer import pipeline
    from service.transfer import rows as transfer_rows
    from service.transfer.blogger import read_blogger

    monkeypatch.setattr(pipeline, "BATCH_ROWS", 100)
    monkeypatch.setattr(transfer_rows, "PARALLEL_FROM_BATCH", 10**9)

    def feed(count: int) -> Path:
        path = tmp_path / f"{count}.atom"
        entries = []
        for number in range(count // 50):
            entries.append(post(number + 1))
            entries += [reply(10**6 + number * 50 + n, number + 1, f"c {n}") for n in range(50)]
        path.write_text(takeout("".join(entries)), encoding="utf-8")
        return path

    assert_import_memory_flat(cli_app, feed, read_blogger)
