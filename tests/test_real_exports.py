"""Real exports nobody here wrote (tests/data/README.md says where each comes from), and the
variants a Japanese blog and a blog on plain permalinks would export: every reader comment
lands in the thread a reader of its post opens, as the public API shows it (counts per
thread, pending, depth, author marks), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from real_exports import (
    DATA,
    WXR_FILES,
    comments_by_thread,
    counted,
    expected_threads,
    japanese_variant,
    key_of,
    plain_permalink_variant,
)
from test_transfer import make_site, ok, refused, rows

from service.comments.representation import ANONYMOUS

API = "/api/v1/sites"


def _import(ranklet: Any, path: Path, kind: str = "wordpress") -> str:
    return ok(ranklet("import", kind, str(path), "--site", "blog")).stdout


def _check_against_api(cli_app: Any, site: Any, path: Path) -> dict[str, Any]:
    """Every thread of the file, read back through the public API and the moderation API,
    compared with what the file holds."""
    expected = expected_threads(path)
    client = cli_app.test_client()
    auth = {"Authorization": f"Bearer {site.token}"}
    pending = Counter(
        c["article"]
        for c in client.get(
            f"{API}/blog/moderation", query_string={"status": "pending", "limit": 200}, headers=auth
        ).get_json()["comments"]
    )
    for key, thread in expected.items():
        shown = comments_by_thread(client, "blog", key)
        want = counted(thread.comments)
        got = Counter(
            (
                c["author"] if c["author"] != ANONYMOUS["ja"] else "",
                c["depth"],
                c["is_author"],
            )
            for c in shown
        )
        assert got == want, (path.name, key)
        counts = client.get(f"{API}/blog/counts", query_string={"article": key}).get_json()
        assert counts["counts"][key] == thread.by_status()["approved"]
        assert pending[key] == thread.by_status()["pending"], (path.name, key)
    return expected


@pytest.mark.parametrize("name", WXR_FILES)
def test_real_wordpress_exports_land_in_their_threads(
    ranklet: Any, cli_app: Any, name: str
) -> None:
    site = make_site(ranklet, "blog")
    path = DATA / name
    out = _import(ranklet, path)
    expected = _check_against_api(cli_app, site, path)
    total = sum(len(t.comments) for t in expected.values())
    assert f"Comments: {total} imported" in out, out
    assert total > 0


def test_theme_unit_test_data_as_wordpress_com_writes_it(ranklet: Any, cli_app: Any) -> None:
    """The https namespace, no author ids (authors by login and e-mail), a comment with
    user id 0 and the author's e-mail, replies ten deep: the cases our own files missed."""
    site = make_site(ranklet, "blog")
    path = DATA / "wptt-theme-unit-test.xml"
    assert 'xmlns:wp="https://wordpress.org/export/1.2/"' in path.read_text(encoding="utf-8")
    _import(ranklet, path)
    expected = _check_against_api(cli_app, site, path)
    marked = [c for t in expected.values() for c in t.comments if c.is_author]
    assert len(marked) == 4  # user 24783058 (themedemos), one of them as "Jane Doe"
    assert max(c.depth for t in expected.values() for c in t.comments) == 5


def test_japanese_slugs_in_every_spelling(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    """WordPress writes %e7..., a browser sends %E7..., a shared link has 経営: one thread."""
    site = make_site(ranklet, "blog")
    path = tmp_path / "japanese.xml"
    renamed = japanese_variant(DATA / "wptt-theme-unit-test.xml", path)
    assert renamed
    _import(ranklet, path)
    expected = _check_against_api(cli_app, site, path)
    client = cli_app.test_client()
    for key, thread in expected.items():
        assert any("\u3040" <= ch <= "\u9fff" for ch in key), key
        upper = thread.link.split("/", 3)[3].upper().replace("%2F", "/")
        for spelling in (key, "/" + upper, "/" + thread.link.split("/", 3)[3]):
            body = client.get(f"{API}/blog/comments", query_string={"article": spelling})
            assert body.get_json()["article"] == key
            assert body.get_json()["total"] == thread.by_status()["approved"]
    document = json.loads(ok(ranklet("export", "blog")).stdout)
    assert {t["article"] for t in document["threads"]} >= set(expected)


def test_plain_permalinks_keep_each_post_apart(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    site = make_site(ranklet, "blog")
    path = tmp_path / "plain.xml"
    renamed = plain_permalink_variant(DATA / "wptt-theme-unit-test.xml", path)
    assert len(renamed) >= 6
    out = _import(ranklet, path)
    expected = _check_against_api(cli_app, site, path)
    assert len(expected) == 6 and all(key.startswith(("/?p=", "/?page_id=")) for key in expected)
    assert "Threads:  6 (6 new)" in out
    answer = cli_app.test_client().get(f"{API}/blog/comments", query_string={"article": "/"})
    assert answer.get_json()["total"] == 0  # nothing merged into the home page


def test_importers_own_test_data_that_has_no_comments(ranklet: Any, cli_app: Any) -> None:
    """A real file with a post and no comment imports nothing and says so, exit 0."""
    make_site(ranklet, "blog")
    out = _import(ranklet, DATA / "wpimporter-wxr-utf-8-challenges.xml")
    assert "Comments: 0 imported" in out


def test_a_file_with_nothing_recognized_is_refused(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """The real file with its namespace changed: not a WordPress export any more."""
    make_site(ranklet, "blog")
    text = (DATA / "wpimporter-valid-wxr-1.1.xml").read_text(encoding="utf-8")
    path = tmp_path / "other.xml"
    path.write_text(text.replace("wordpress.org/export/1.1/", "example.org/not-wp/"))
    before = rows(cli_app)
    refused(
        ranklet("import", "wordpress", str(path), "--site", "blog"),
        "nothing to import",
        "2 <item> elements",
        "wordpress.org/export/1.x/",
    )
    assert rows(cli_app) == before


def test_isso_disqus_fixture_and_a_deleted_thread(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """Isso's Disqus fixture as it is, then with its thread marked deleted in Disqus."""
    make_site(ranklet, "blog")
    out = _import(ranklet, DATA / "isso-disqus.xml", "disqus")
    assert "Comments: 5 imported (4 approved, 1 deleted)" in out, out
    client = cli_app.test_client()
    home = client.get(f"{API}/blog/comments", query_string={"article": "/"}).get_json()
    assert home["total"] == 3  # post 9 is deleted in Disqus, and has no replies
    assert [c["author"] for c in home["comments"]][:1] == ["peter"]
    assert home["comments"][0]["replies"][0]["author"] == "user"
    other = key_of("http://localhost:4000/blog/2013/02/12/redacted/index.html")
    assert (
        client.get(f"{API}/blog/comments", query_string={"article": other}).get_json()["total"] == 1
    )

    make_site(ranklet, "gone")
    deleted = tmp_path / "deleted.xml"
    text = (DATA / "isso-disqus.xml").read_text(encoding="utf-8")
    deleted.write_text(  # thread 2, the one with four posts, deleted in Disqus
        text.replace("<message/>", "<message/>\n      <isDeleted>true</isDeleted>", 1)
    )
    out = ok(ranklet("import", "disqus", str(deleted), "--site", "gone")).stdout
    assert "Comments: 1 imported (1 approved)" in out, out
    assert "4 × on a thread deleted in Disqus" in out, out
    gone = client.get(f"{API}/gone/comments", query_string={"article": "/"}).get_json()
    assert gone["total"] == 0
    auth_rows = rows(cli_app)
    assert auth_rows["comments"] == 6


def test_data_readme_names_every_file() -> None:
    readmes = "".join(p.read_text(encoding="utf-8") for p in DATA.glob("README*.md"))
    for path in DATA.iterdir():
        if not path.name.startswith(("README", ".")):
            assert f"`{path.name}`" in readmes, path.name
