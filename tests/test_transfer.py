"""Export and import (contract §1, issue 5 part 3): JSON round trip, Isso, Disqus.

Every fixture file is written by the test itself: a Ranklet export, an Isso database built
with Isso's own CREATE TABLE statements (isso/db/{comments,threads,preferences}.py) and a
Disqus XML export in Disqus's namespaces.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support import SiteInfo, run_cli

from service.comments import markup

API = "/api/v1/sites"
md = markup.render_comment


@pytest.fixture
def client(cli_app: Any) -> Any:
    """The test client of the migrated-by-commands app (conftest's ``cli_app``)."""
    return cli_app.test_client()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def refused(result: Any, *words: str) -> str:
    assert result.exit_code != 0, result.output
    message = result.stderr
    assert message.startswith("Error: "), message
    assert "Nothing was imported" in message
    for word in words:
        assert word in message, message
    assert "Traceback" not in result.output + message
    return message


def make_site(ranklet: Any, slug: str, *options: str) -> SiteInfo:
    result = ok(
        ranklet("site", "create", slug, "--origin", "https://blog.example.com", *options, "--json")
    )
    data = json.loads(result.stdout)
    return SiteInfo(data["site"], data["token"])


def rows(cli_app: Any) -> dict[str, int]:
    """How many rows each content table holds: 'nothing written' means these did not move."""
    from service.core.extensions import db
    from service.db.models import Category, Comment, RankEntry, Site, Thread

    with cli_app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Thread, Comment, Category, RankEntry)
        }
        counts["site_versions"] = db.session.scalar(select(func.sum(Site.version)))
        return counts


def post(client: Any, site: SiteInfo, article: str, body: str, **fields: Any) -> dict[str, Any]:
    headers = fields.pop("headers", {})
    environ = fields.pop("environ_base", {"REMOTE_ADDR": "192.0.2.10"})
    answer = client.post(
        f"{API}/{site.slug}/comments",
        json={"article": article, "body": body, **fields},
        headers=headers,
        environ_base=environ,
    )
    assert answer.status_code in (201, 202), answer.get_json()
    return answer.get_json()


def tags_and_links(html: str) -> tuple[set[str], list[str]]:
    found: set[str] = set()
    links: list[str] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.add(tag)
            for name, value in attrs:
                assert name in ("href", "rel"), (tag, name)
                if name == "href":
                    links.append(value or "")

    Collector().feed(html)
    return found, links


def assert_sanitized(html: str) -> None:
    tags, links = tags_and_links(html)
    assert tags <= markup.ALLOWED_TAGS, tags
    assert all(link.startswith(("http://", "https://", "mailto:")) for link in links), links


# --- a site with everything -----------------------------------------------------------------

HELLO = "/posts/hello/"
OTHER = "/posts/other/"


def populate(client: Any, ranklet: Any, site: SiteInfo) -> dict[str, Any]:
    """Rankings, a custom category, threads with replies, likes, an edit, a placeholder,
    a pending and a spam comment, and an author's comment."""
    ok(
        ranklet(
            "site",
            "update",
            site.slug,
            "--notify-email",
            "owner@example.com",
            "--banned-word",
            "casino",
        )
    )
    for at, positions in (
        ("2024-01-01T09:00:00+09:00", {"consulting": 10, "marketing": 7}),
        ("2024-02-01T00:00:00Z", {"consulting": 4}),
        ("2024-03-01T00:00:00Z", {"consulting": 6, "management": 2}),
    ):
        answer = client.post(
            f"{API}/{site.slug}/rankings",
            json={"positions": positions, "observed_at": at},
            headers=site.auth,
        )
        assert answer.status_code == 200, answer.get_json()
    answer = client.put(
        f"{API}/{site.slug}/categories/seo",
        json={"labels": {"ja": "SEO", "en": "SEO"}, "url": "https://rank.example/seo", "order": 9},
        headers=site.auth,
    )
    assert answer.status_code == 201
    client.post(f"{API}/{site.slug}/rankings", json={"positions": {"seo": 1}}, headers=site.auth)

    alice = post(
        client,
        site,
        HELLO,
        "Hello *world*\n\nSecond line",
        author="Alice",
        email="alice@example.com",
        website="https://alice.example",
        notify=True,
        article_title="Hello post",
        article_url="https://blog.example.com/posts/hello/",
    )
    bob = post(
        client,
        site,
        HELLO,
        "I **disagree**",
        author="Bob",
        email="bob@example.com",
        parent_id=alice["comment"]["id"],
    )
    again = post(
        client,
        site,
        HELLO,
        "Why? <b>not html</b>",
        author="Alice",
        email="Alice@Example.com",
        parent_id=bob["comment"]["id"],
    )
    author = post(client, site, HELLO, "Thanks all", headers=site.auth)
    anon = post(client, site, HELLO, "typo", environ_base={"REMOTE_ADDR": "192.0.2.77"})
    held = post(
        client,
        site,
        HELLO,
        " ".join(f"https://l{n}.example" for n in range(5)),
        author="Linker",
        email="links@example.com",
    )
    assert held["status"] == "pending"
    spam = post(client, site, OTHER, "cheap pills", author="Spammer")
    other = post(client, site, OTHER, "On the other post", author="Carol")
    for address in ("198.51.100.1", "198.51.100.2"):
        client.post(
            f"{API}/{site.slug}/comments/{alice['comment']['id']}/like",
            environ_base={"REMOTE_ADDR": address},
        )
    edited = client.patch(
        f"{API}/{site.slug}/comments/{anon['comment']['id']}",
        json={"body": "fixed `typo`"},
        headers={"X-Edit-Token": anon["edit_token"]},
    )
    assert edited.status_code == 200
    deleted = client.delete(
        f"{API}/{site.slug}/comments/{bob['comment']['id']}",
        headers={"X-Edit-Token": bob["edit_token"]},
    )
    assert deleted.status_code == 204
    answer = client.post(
        f"{API}/{site.slug}/comments/{spam['comment']['id']}/moderate",
        json={"action": "spam"},
        headers=site.auth,
    )
    assert answer.status_code == 200
    pinned = client.post(  # carried by the export and the import like every other field
        f"{API}/{site.slug}/comments/{other['comment']['id']}/pin",
        json={"pinned": True},
        headers=site.auth,
    )
    assert pinned.status_code == 200, pinned.get_json()
    return {
        "alice": alice,
        "bob": bob,
        "again": again,
        "author": author,
        "anon": anon,
        "held": held,
        "spam": spam,
        "other": other,
    }


def export(ranklet: Any, slug: str, *options: str) -> dict[str, Any]:
    return json.loads(ok(ranklet("export", slug, *options)).stdout)


def secrets_of(cli_app: Any, site: SiteInfo) -> list[str]:
    """Every secret or keyed hash the database holds for the site."""
    from service.core.extensions import db
    from service.db.models import Comment, Like
    from service.db.models import Site as SiteRow

    with cli_app.app_context():
        row = db.session.scalar(select(SiteRow).where(SiteRow.slug == site.slug))
        values = [site.token, row.token_hash, row.notify_email_encrypted]
        for comment in db.session.scalars(select(Comment).where(Comment.site_id == row.id)):
            values += [comment.edit_token_hash, comment.email_lookup, comment.email_encrypted]
        values += list(db.session.scalars(select(Like.client_key)))
    return [v for v in values if v]


# --- export ---------------------------------------------------------------------------------


def test_export_has_everything_but_secrets(ranklet, client, cli_app):
    site = make_site(ranklet, "blog", "--name", "My blog", "--lang", "en")
    made = populate(client, ranklet, site)
    result = ok(ranklet("export", "blog"))
    text = result.stdout
    document = json.loads(text)

    assert document["format"] == "ranklet-export"
    assert document["version"] == 1
    assert document["exported_at"].endswith("Z")
    assert set(document) == {"format", "version", "exported_at", "site", "categories", "threads"}
    assert document["site"] == {
        "slug": "blog",
        "name": "My blog",
        "origins": ["https://blog.example.com"],
        "lang": "en",
        "moderation": "none",
        "webhook_url": None,
        "notify_email": "owner@example.com",
        "notify_pending": True,
        "banned_words": ["casino"],
    }
    categories = {c["key"]: c for c in document["categories"]}
    assert list(categories) == ["consulting", "management", "marketing", "seo"]
    assert categories["consulting"]["labels"] == {"ja": "コンサルタント", "en": "Consulting"}
    assert categories["consulting"]["history"] == [
        {"position": 10, "observed_at": "2024-01-01T00:00:00Z"},
        {"position": 4, "observed_at": "2024-02-01T00:00:00Z"},
        {"position": 6, "observed_at": "2024-03-01T00:00:00Z"},
    ]
    assert categories["seo"]["url"] == "https://rank.example/seo"
    assert categories["seo"]["order"] == 9

    threads = {t["article"]: t for t in document["threads"]}
    assert threads[HELLO]["title"] == "Hello post"
    assert threads[HELLO]["url"] == "https://blog.example.com/posts/hello/"
    comments = {c["id"]: c for t in document["threads"] for c in t["comments"]}
    assert len(comments) == 8
    alice = comments[made["alice"]["comment"]["id"]]
    assert set(alice) == {
        "id",
        "parent_id",
        "source",
        "author",
        "email",
        "website",
        "body",
        "body_html",
        "status",
        "is_author",
        "notify",
        "likes",
        "created_at",
        "edited_at",
        "pinned_at",
    }
    assert alice["pinned_at"] is None
    assert comments[made["other"]["comment"]["id"]]["pinned_at"].endswith("Z")
    assert alice["email"] == "alice@example.com"  # decrypted
    assert alice["body"] == "Hello *world*\n\nSecond line"  # the Markdown source
    assert alice["body_html"] == markup.render_comment(alice["body"])
    assert alice["likes"] == 2
    assert alice["notify"] is True
    assert alice["website"] == "https://alice.example"
    assert alice["created_at"].endswith("Z")
    bob = comments[made["bob"]["comment"]["id"]]
    assert bob["status"] == "deleted"
    assert bob["body"] == "I **disagree**"  # the author can still restore it
    assert bob["parent_id"] == alice["id"]
    assert comments[made["again"]["comment"]["id"]]["parent_id"] == bob["id"]
    assert comments[made["author"]["comment"]["id"]]["is_author"] is True
    anon = comments[made["anon"]["comment"]["id"]]
    assert anon["body"] == "fixed `typo`"
    assert anon["edited_at"].endswith("Z")
    assert anon["email"] is None and anon["author"] is None
    assert comments[made["held"]["comment"]["id"]]["status"] == "pending"
    assert comments[made["spam"]["comment"]["id"]]["status"] == "spam"

    for secret in secrets_of(cli_app, site):
        assert secret not in text
    for word in ("token", "hash", "lookup", "client_key", "secret", "encrypted", "192.0.2"):
        assert word not in text


def test_export_of_one_address_is_a_data_subject_export(ranklet, client, tmp_path):
    site = make_site(ranklet, "blog")
    made = populate(client, ranklet, site)
    output = tmp_path / "alice.json"
    result = ok(
        ranklet("export", "blog", "--email", "  ALICE@example.COM ", "--output", str(output))
    )
    assert result.stdout == ""
    assert "Exported 2 comments" in result.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["subject"] == {"email": "ALICE@example.COM"}
    assert document["site"] == {"slug": "blog", "name": "blog"}  # no settings, no addresses
    assert document["categories"] == []
    assert [t["article"] for t in document["threads"]] == [HELLO]
    comments = document["threads"][0]["comments"]
    assert [c["id"] for c in comments] == [
        made["alice"]["comment"]["id"],
        made["again"]["comment"]["id"],
    ]
    assert {c["email"] for c in comments} == {"alice@example.com", "Alice@Example.com"}
    text = output.read_text(encoding="utf-8")
    for other in ("bob@example.com", "owner@example.com", "Carol", "casino"):
        assert other not in text
    nobody = export(ranklet, "blog", "--email", "nobody@example.com")
    assert nobody["threads"] == []


def test_export_of_an_unknown_site_fails(ranklet):
    result = ranklet("export", "nope")
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: no site 'nope'")


# --- JSON round trip --------------------------------------------------------------------------

# The learning filter's score and reasons belong to the site's model, which an export does
# not carry (the new site learns from its own author), so they are not compared either.
UNSTABLE = {"id", "parent_id", "avatar", "site", "spam_score", "spam_features"}


def stable(value: Any) -> Any:
    """Drop what depends on the new site's row ids: comment and entry ids, avatar seeds
    (keyed with the site's id), the slug, and the spam filter's scores. Everything else must
    be identical."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in UNSTABLE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def public_answers(client: Any, site: SiteInfo) -> dict[str, Any]:
    base = f"{API}/{site.slug}"
    seen: dict[str, Any] = {}
    for lang in ("ja", "en"):
        seen[f"rankings {lang}"] = client.get(f"{base}/rankings?lang={lang}").get_json()
        for article in (HELLO, OTHER):
            for sort in ("oldest", "newest", "top"):
                answer = client.get(
                    f"{base}/comments",
                    query_string={"article": article, "sort": sort, "lang": lang},
                )
                assert answer.status_code == 200
                seen[f"comments {article} {sort} {lang}"] = answer.get_json()
    for key in ("consulting", "management", "marketing", "seo"):
        seen[f"history {key}"] = client.get(f"{base}/rankings/{key}/history").get_json()
    seen["counts"] = client.get(
        f"{base}/counts", query_string=[("article", HELLO), ("article", OTHER)]
    ).get_json()
    for status in ("pending", "spam", "approved", "deleted"):
        seen[f"moderation {status}"] = client.get(
            f"{base}/moderation?status={status}", headers=site.auth
        ).get_json()
    return seen


def test_json_round_trip_gives_identical_answers(ranklet, client, cli_app, tmp_path):
    site = make_site(ranklet, "blog", "--lang", "en")
    populate(client, ranklet, site)
    dump = tmp_path / "blog.json"
    ok(ranklet("export", "blog", "--output", str(dump)))
    copy = make_site(ranklet, "copy", "--lang", "en")

    result = ok(ranklet("import", "json", str(dump), "--site", "copy"))
    assert "Comments: 8 imported (5 approved, 1 pending, 1 spam, 1 deleted)" in result.stdout
    assert "Threads:  2 (2 new)" in result.stdout
    assert "Categories: 1 new, 0 updated; rank history: 6 entries added" in result.stdout
    assert "Skipped:  0" in result.stdout
    assert "Site settings in the file" in result.stdout
    assert "Importing" not in result.stderr  # no progress bar off a terminal
    again = ok(ranklet("import", "json", str(dump), "--site", "copy"))
    assert "updated" not in again.stdout or "0 updated" in again.stdout, again.stdout
    assert "3 updated" not in again.stdout

    original, restored = public_answers(client, site), public_answers(client, copy)
    assert stable(restored) == stable(original)
    hello = restored[f"comments {HELLO} oldest en"]
    assert hello["total"] == 4
    # The tree itself survives: the deleted comment stays as a placeholder over its reply.
    placeholder = hello["comments"][0]["replies"][0]
    assert placeholder["deleted"] is True
    assert placeholder["replies"][0]["parent_id"] == placeholder["id"]
    assert hello["comments"][0]["likes"] == 2
    # Avatars of commenters with an address stay stable per commenter on the new site.
    alice, again = hello["comments"][0], placeholder["replies"][0]
    assert alice["avatar"] == again["avatar"]

    # The re-export of the copy equals the export, but for ids, slug and timestamps.
    first, second = json.loads(dump.read_text(encoding="utf-8")), export(ranklet, "copy")
    for document in (first, second):
        document.pop("exported_at")
        for thread in document["threads"]:
            for comment in thread["comments"]:
                comment.pop("source")
    assert stable(second) == stable(first)


def test_json_import_twice_adds_nothing(ranklet, client, cli_app, tmp_path):
    site = make_site(ranklet, "blog", "--lang", "en")
    populate(client, ranklet, site)
    dump = tmp_path / "blog.json"
    ok(ranklet("export", "blog", "--output", str(dump)))
    make_site(ranklet, "copy", "--lang", "en")
    ok(ranklet("import", "json", str(dump), "--site", "copy"))
    before = rows(cli_app)
    answers = public_answers(client, SiteInfo("copy", ""))

    again = ok(ranklet("import", "json", str(dump), "--site", "copy")).stdout
    assert "Comments: 0 imported" in again
    assert "8 × already imported" in again
    assert "Categories: 0 new, 0 updated; rank history: 0 entries added, 6 already present" in (
        again
    )
    after = rows(cli_app)
    assert {k: v for k, v in after.items() if k != "site_versions"} == {
        k: v for k, v in before.items() if k != "site_versions"
    }
    assert stable(public_answers(client, SiteInfo("copy", ""))) == stable(answers)

    # Restoring into the site it came from finds every comment still there.
    home = ok(ranklet("import", "json", str(dump), "--site", "blog")).stdout
    assert "Comments: 0 imported" in home and "8 × already imported" in home
    assert rows(cli_app)["comments"] == after["comments"]


def test_json_import_of_a_data_subject_export(ranklet, client, tmp_path):
    site = make_site(ranklet, "blog")
    made = populate(client, ranklet, site)
    dump = tmp_path / "alice.json"
    ok(ranklet("export", "blog", "--email", "alice@example.com", "--output", str(dump)))
    make_site(ranklet, "copy")
    result = ok(ranklet("import", "json", str(dump), "--site", "copy")).stdout
    assert "Comments: 2 imported (2 approved)" in result
    # Alice's reply answered Bob, whose comment is not in her export: it becomes top-level.
    assert "1 × reply whose parent is missing: made top-level" in result
    page = client.get(f"{API}/copy/comments", query_string={"article": HELLO}).get_json()
    assert page["total"] == 2
    assert [c["replies"] for c in page["comments"]] == [[], []]
    assert made["again"]["comment"]["body_html"] in [c["body_html"] for c in page["comments"]]


# --- Isso -------------------------------------------------------------------------------------

# Isso's schema, as isso/db/{preferences,threads,comments}.py and isso/db/__init__.py create it.
ISSO_SCHEMA = """
CREATE TABLE IF NOT EXISTS preferences (
   key VARCHAR PRIMARY KEY, value VARCHAR
);
CREATE TABLE IF NOT EXISTS threads (
    id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256));
CREATE TABLE IF NOT EXISTS comments (
    tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
    created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
    text VARCHAR, author VARCHAR, email VARCHAR, website VARCHAR,
    likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,
    notification INTEGER DEFAULT 0);
CREATE TRIGGER IF NOT EXISTS remove_stale_threads
AFTER DELETE ON comments
BEGIN
    DELETE FROM threads WHERE id NOT IN (SELECT tid FROM comments);
END;
PRAGMA user_version = 3;
"""
ISSO_IP = "198.51.100.23"
HOSTILE_MARKDOWN = (
    "Look <script>alert(1)</script> [click](javascript:alert(1)) "
    '<img src=x onerror="alert(2)"> [ok](https://ok.example/)'
)
T0 = 1_600_000_000.25  # 2020-09-13T12:26:40.25Z


def isso_comment(cid: int, tid: int, parent: int | None, **fields: Any) -> dict[str, Any]:
    row = {
        "tid": tid,
        "id": cid,
        "parent": parent,
        "created": T0 + cid * 60,
        "modified": None,
        "mode": 1,
        "remote_addr": ISSO_IP,
        "text": f"Comment {cid}",
        "author": f"Reader {cid}",
        "email": None,
        "website": None,
        "likes": 0,
        "dislikes": 1,
        "voters": sqlite3.Binary(b"\x00" * 256),
        "notification": 0,
    }
    row.update(fields)
    return row


def write_isso(path: Path) -> Path:
    """threads: /2023/hello-world/ (a reply chain 7 deep, a pending, a deleted placeholder,
    hostile markup), /about/ (an edited comment), /empty/; and an orphan comment."""
    comments = [
        isso_comment(
            1,
            1,
            None,
            text="Hello *Isso*",
            author="Alice",
            email="alice@example.com",
            website="alice.example.org",
            likes=3,
            notification=1,
        ),
        isso_comment(2, 1, 1, author="Bob", email="bob@example.com"),
        *(isso_comment(cid, 1, cid - 1) for cid in range(3, 8)),  # levels 3..7
        isso_comment(
            8, 1, None, mode=2, text="Please approve", author="Carol", email="carol@example.com"
        ),
        isso_comment(9, 1, None, mode=4, text="", author=None, email=None, website=None),
        isso_comment(10, 1, 9, text="Replying to a deleted one"),
        isso_comment(
            11,
            1,
            None,
            text=HOSTILE_MARKDOWN,
            author="<b>Mallory</b>",
            website="javascript:alert(3)",
        ),
        isso_comment(12, 2, None, text="About **you**", modified=T0 + 9999, author=None),
        isso_comment(13, 99, None, text="My thread is gone"),
    ]
    with sqlite3.connect(path) as connection:
        connection.executescript(ISSO_SCHEMA)
        connection.execute("INSERT INTO preferences VALUES ('session-key', 'abc123')")
        connection.executemany(
            "INSERT INTO threads (id, uri, title) VALUES (?, ?, ?)",
            [
                (1, "/2023/hello-world/", "Hello World"),
                (2, "/about/", "About me"),
                (3, "/empty/", None),
            ],
        )
        connection.executemany(
            "INSERT INTO comments (tid, id, parent, created, modified, mode, remote_addr, text,"
            " author, email, website, likes, dislikes, voters, notification) VALUES (:tid, :id,"
            " :parent, :created, :modified, :mode, :remote_addr, :text, :author, :email,"
            " :website, :likes, :dislikes, :voters, :notification)",
            comments,
        )
    connection.close()
    return path


def depth_of(tree: list[dict[str, Any]], level: int = 1) -> dict[str, int]:
    found: dict[str, int] = {}
    for node in tree:
        found[node["body_html"]] = level
        found.update(depth_of(node["replies"], level + 1))
    return found


def test_isso_import(ranklet, client, cli_app, tmp_path):
    site = make_site(ranklet, "blog", "--lang", "en")
    database = write_isso(tmp_path / "comments.db")
    result = ok(ranklet("import", "isso", str(database), "--site", "blog"))
    out = result.stdout
    assert "Isso import into site 'blog': committed in one transaction." in out
    assert "Threads:  2 (2 new)" in out
    assert "Comments: 12 imported (10 approved, 1 pending, 1 deleted)" in out
    assert "1 × its thread is not in the database" in out
    assert "2 × reply nested deeper than 5 levels: kept at level 5" in out
    assert "1 × website that is not an http(s) URL: dropped" in out
    assert "IP addresses" in out
    assert "Importing" not in result.stderr  # no progress bar off a terminal

    page = client.get(
        f"{API}/blog/comments", query_string={"article": "/2023/hello-world/"}
    ).get_json()
    assert page["total"] == 9  # 1..7, 10 and 11; not the pending or the deleted one
    first = page["comments"][0]
    assert first["author"] == "Alice"
    assert first["body_html"] == markup.render_comment("Hello *Isso*")
    assert first["body_html"].startswith("<p>Hello <em>Isso</em></p>")
    assert first["likes"] == 3
    assert first["website"] == "http://alice.example.org"
    assert first["created_at"] == "2020-09-13T12:27:40.250000Z"
    levels = depth_of(page["comments"])
    assert max(levels.values()) == 5
    assert [levels[md(f"Comment {n}")] for n in range(2, 8)] == [2, 3, 4, 5, 5, 5]
    level4 = first["replies"][0]["replies"][0]["replies"][0]
    assert [r["body_html"] for r in level4["replies"]] == [md(f"Comment {n}") for n in (5, 6, 7)]
    placeholder = page["comments"][1]
    assert placeholder["deleted"] is True and placeholder["body_html"] == ""
    assert placeholder["replies"][0]["body_html"] == md("Replying to a deleted one")
    hostile = page["comments"][2]
    assert_sanitized(hostile["body_html"])
    assert "<script" not in hostile["body_html"] and "<img" not in hostile["body_html"]
    _tags, links = tags_and_links(hostile["body_html"])
    assert links == ["https://ok.example/"]
    assert hostile["author"] == "<b>Mallory</b>"  # plain text; the embed shows it as text
    assert hostile["website"] is None

    about = client.get(f"{API}/blog/comments", query_string={"article": "/about/"}).get_json()
    assert about["comments"][0]["author"] == "Anonymous"
    assert about["comments"][0]["edited_at"] == "2020-09-13T15:13:19.250000Z"
    counts = client.get(
        f"{API}/blog/counts",
        query_string=[
            ("article", "/2023/hello-world/"),
            ("article", "/about/"),
            ("article", "/empty/"),
        ],
    ).get_json()
    assert counts == {"counts": {"/2023/hello-world/": 9, "/about/": 1, "/empty/": 0}}

    pending = client.get(f"{API}/blog/moderation?status=pending", headers=site.auth).get_json()
    assert [(c["author"], c["email"]) for c in pending["comments"]] == [
        ("Carol", "carol@example.com")
    ]
    document = export(ranklet, "blog")
    alice = document["threads"][0]["comments"][0]
    assert alice["source"] == "isso:1" and alice["notify"] is True
    assert alice["email"] == "alice@example.com"
    # Privacy: the commenters' IP address was never copied.
    assert ISSO_IP not in json.dumps(document)
    from service.core.extensions import db
    from service.db.models import Comment

    with cli_app.app_context():
        for comment in db.session.scalars(select(Comment)):
            assert ISSO_IP not in repr([getattr(comment, c.key) for c in Comment.__table__.c])
            assert comment.edit_token_hash is None


def test_isso_import_twice_adds_nothing(ranklet, client, cli_app, tmp_path):
    make_site(ranklet, "blog")
    database = write_isso(tmp_path / "comments.db")
    ok(ranklet("import", "isso", str(database), "--site", "blog"))
    before = rows(cli_app)
    out = ok(ranklet("import", "isso", str(database), "--site", "blog")).stdout
    assert "Comments: 0 imported" in out
    assert "12 × already imported" in out
    assert "Threads:  2 (0 new)" in out
    after = rows(cli_app)
    assert after["comments"] == before["comments"] == 12
    assert after["threads"] == before["threads"] == 2
    counts = client.get(
        f"{API}/blog/counts", query_string={"article": "/2023/hello-world/"}
    ).get_json()
    assert counts["counts"]["/2023/hello-world/"] == 9

    # A newer copy of the database brings only what is new, under its existing parents.
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO comments (tid, id, parent, created, mode, remote_addr, text, voters)"
            " VALUES (1, 14, 7, ?, 1, '203.0.113.1', 'Late reply', x'00')",
            (T0 + 99999,),
        )
    connection.close()
    out = ok(ranklet("import", "isso", str(database), "--site", "blog")).stdout
    assert "Comments: 1 imported (1 approved)" in out
    assert "1 × reply nested deeper than 5 levels: kept at level 5" in out
    page = client.get(
        f"{API}/blog/comments", query_string={"article": "/2023/hello-world/"}
    ).get_json()
    assert page["total"] == 10
    assert depth_of(page["comments"])[md("Late reply")] == 5


# --- Disqus -----------------------------------------------------------------------------------

DISQUS_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://disqus.com/api/schemas/1.0/disqus.xsd'
    ' http://disqus.com/api/schemas/1.0/disqus-internals.xsd">\n'
)
DISQUS_IP = "203.0.113.9"


def disqus_thread(tid: str, link: str, title: str) -> str:
    return f"""
  <thread dsq:id="{tid}">
    <id>{tid}-identifier</id>
    <forum>myblog</forum>
    <category dsq:id="1" />
    <link>{link}</link>
    <title>{title}</title>
    <message />
    <createdAt>2019-01-01T00:00:00Z</createdAt>
    <author><name>Owner</name><isAnonymous>false</isAnonymous><username>owner</username></author>
    <ipAddress>{DISQUS_IP}</ipAddress>
    <isClosed>false</isClosed>
    <isDeleted>false</isDeleted>
  </thread>"""


def disqus_post(
    pid: str,
    thread: str,
    message: str,
    minute: int,
    parent: str | None = None,
    deleted: bool = False,
    spam: bool = False,
    name: str = "Reader",
    email: str | None = None,
) -> str:
    parent_tag = f'<parent dsq:id="{parent}" />' if parent else ""
    email_tag = f"<email>{email}</email>" if email else ""
    return f"""
  <post dsq:id="{pid}">
    <id />
    <message><![CDATA[{message}]]></message>
    <createdAt>2019-02-03T04:{minute:02d}:00Z</createdAt>
    <isDeleted>{str(deleted).lower()}</isDeleted>
    <isSpam>{str(spam).lower()}</isSpam>
    <author>{email_tag}<name>{name}</name><isAnonymous>false</isAnonymous></author>
    <ipAddress>{DISQUS_IP}</ipAddress>
    <thread dsq:id="{thread}" />
    {parent_tag}
  </post>"""


HOSTILE_HTML = (
    '<p>Hi<script>alert(1)</script> <a href="javascript:alert(2)">click</a> <b>bold</b>'
    ' <img src="x" onerror="alert(3)"> <a href="https://ok.example/" onclick="alert(4)">ok</a>'
    ' <span style="color:red">red</span></p>'
)


def write_disqus(path: Path) -> Path:
    body = "".join(
        [
            '\n  <category dsq:id="1"><forum>myblog</forum><title>General</title>'
            "<isDefault>true</isDefault></category>",
            disqus_thread("100", "https://blog.example.com/2019/hello/?utm_source=x#top", "Hello"),
            disqus_thread("101", "https://blog.example.com/日本語/", "日本語の記事"),
            disqus_thread("102", "https://blog.example.com/quiet/", "No comments here"),
            disqus_post("1", "100", "<p>First!</p>", 1, name="Alice", email="alice@example.com"),
            # a reply that comes before its parent in the file
            disqus_post("3", "100", "<p>Reply to the reply</p>", 3, parent="2"),
            disqus_post("2", "100", "<p>Reply <i>one</i></p>", 2, parent="1", name="Bob"),
            disqus_post("4", "100", "<p>I regret this</p>", 4, deleted=True),
            disqus_post(
                "5",
                "100",
                "<p>Buy cheap pills</p>",
                5,
                spam=True,
                name="Spammer",
                email="spam@example.com",
            ),
            disqus_post("6", "100", HOSTILE_HTML, 6, name="Mallory"),
            disqus_post("7", "100", "<p>My parent vanished</p>", 7, parent="999"),
            disqus_post("8", "555", "<p>My thread vanished</p>", 8),
            disqus_post("9", "101", "<p>こんにちは</p>", 9, name="花子"),
        ]
    )
    path.write_text(DISQUS_HEAD + body + "\n</disqus>\n", encoding="utf-8")
    return path


JAPANESE = "/%E6%97%A5%E6%9C%AC%E8%AA%9E/"


def test_disqus_import(ranklet, client, cli_app, tmp_path):
    site = make_site(ranklet, "blog", "--lang", "ja")
    ok(ranklet("site", "update", "blog", "--webhook", "https://hooks.example/in"))
    export_file = write_disqus(tmp_path / "disqus.xml")
    result = ok(ranklet("import", "disqus", str(export_file), "--site", "blog"))
    out = result.stdout
    assert "Disqus import into site 'blog': committed in one transaction." in out
    assert "Threads:  2 (2 new)" in out
    assert "Comments: 8 imported (6 approved, 1 spam, 1 deleted)" in out
    assert "1 × its thread is not in the file (or has no link)" in out
    assert "1 × reply whose parent is missing: made top-level" in out
    assert "Importing" not in result.stderr  # no progress bar off a terminal

    page = client.get(f"{API}/blog/comments", query_string={"article": "/2019/hello/"}).get_json()
    assert page["total"] == 5
    bodies = [c["body_html"] for c in page["comments"]]
    assert bodies[0] == "<p>First!</p>"
    first = page["comments"][0]
    assert first["author"] == "Alice" and first["created_at"] == "2019-02-03T04:01:00Z"
    reply = first["replies"][0]
    assert reply["body_html"] == "<p>Reply <em>one</em></p>"
    assert reply["replies"][0]["body_html"] == "<p>Reply to the reply</p>"
    assert "<p>My parent vanished</p>" in bodies  # top-level now
    hostile = next(c for c in page["comments"] if c["author"] == "Mallory")
    html = hostile["body_html"]
    assert_sanitized(html)
    assert "alert" not in html and "<script" not in html and "<img" not in html
    assert "<strong>bold</strong>" in html and "red" in html and "style" not in html
    _tags, links = tags_and_links(html)
    assert links == ["https://ok.example/"]
    assert 'rel="nofollow ugc noopener noreferrer"' in html
    assert "I regret this" not in json.dumps(page)
    assert "Buy cheap pills" not in json.dumps(page)

    japanese = client.get(f"{API}/blog/comments", query_string={"article": JAPANESE}).get_json()
    assert [c["author"] for c in japanese["comments"]] == ["花子"]
    spam = client.get(f"{API}/blog/moderation?status=spam", headers=site.auth).get_json()
    assert [(c["author"], c["email"]) for c in spam["comments"]] == [
        ("Spammer", "spam@example.com")
    ]
    deleted = client.get(f"{API}/blog/moderation?status=deleted", headers=site.auth).get_json()
    assert [c["body_html"] for c in deleted["comments"]] == ["<p>I regret this</p>"]

    document = export(ranklet, "blog")
    threads = {t["article"]: t for t in document["threads"]}
    assert threads["/2019/hello/"]["title"] == "Hello"
    assert threads["/2019/hello/"]["url"].startswith("https://blog.example.com/2019/hello/")
    assert threads["/日本語/"]["title"] == "日本語の記事"
    assert "/quiet/" not in threads
    assert DISQUS_IP not in json.dumps(document)
    # No Markdown source for HTML bodies: a JSON re-import sanitizes body_html instead.
    assert all(c["body"] is None for t in document["threads"] for c in t["comments"])
    # Years-old comments wake nobody: an import queues no webhook or e-mail.
    from service.core.extensions import db
    from service.db.models import Notification

    with cli_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_disqus_import_twice_adds_nothing_and_round_trips(ranklet, client, cli_app, tmp_path):
    make_site(ranklet, "blog")
    export_file = write_disqus(tmp_path / "disqus.xml")
    ok(ranklet("import", "disqus", str(export_file), "--site", "blog"))
    before = rows(cli_app)
    out = ok(ranklet("import", "disqus", str(export_file), "--site", "blog")).stdout
    assert "Comments: 0 imported" in out and "8 × already imported" in out
    assert rows(cli_app)["comments"] == before["comments"] == 8

    # Moving on from Ranklet keeps the imported HTML bodies exactly.
    dump = tmp_path / "blog.json"
    ok(ranklet("export", "blog", "--output", str(dump)))
    make_site(ranklet, "copy")
    ok(ranklet("import", "json", str(dump), "--site", "copy"))
    for article in ("/2019/hello/", JAPANESE):
        original = client.get(f"{API}/blog/comments", query_string={"article": article})
        restored = client.get(f"{API}/copy/comments", query_string={"article": article})
        assert stable(restored.get_json()) == stable(original.get_json())
    # The Disqus origin travels with the comments: importing Disqus into the copy adds nothing.
    out = ok(ranklet("import", "disqus", str(export_file), "--site", "copy")).stdout
    assert "Comments: 0 imported" in out


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <thread dsq:id="1"><link>https://blog.example.com/a/</link><title>&lol9;</title></thread>
  <post dsq:id="2"><message>&lol9;</message><createdAt>2019-01-01T00:00:00Z</createdAt>
    <thread dsq:id="1"/></post>
</disqus>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE disqus [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <thread dsq:id="1"><link>https://blog.example.com/a/</link><title>x</title></thread>
  <post dsq:id="2"><message>&secret;</message><createdAt>2019-01-01T00:00:00Z</createdAt>
    <thread dsq:id="1"/></post>
</disqus>
"""


@pytest.mark.parametrize(
    "content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"]
)
def test_disqus_refuses_dtds_and_entities(ranklet, cli_app, tmp_path, content):
    make_site(ranklet, "blog")
    before = rows(cli_app)
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(content, encoding="utf-8")
    message = refused(ranklet("import", "disqus", str(hostile), "--site", "blog"), "DTD")
    assert "billion laughs" in message
    assert "root:" not in message
    assert rows(cli_app) == before


# --- malformed files and atomicity ------------------------------------------------------------


def _not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("just some notes, not a database\n" * 100)
    return path


def _sqlite_without_isso(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)")
    connection.close()
    return path


def _isso_without_columns(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR, title)")
        connection.execute("CREATE TABLE comments (tid, id INTEGER PRIMARY KEY, text VARCHAR)")
    connection.close()
    return path


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def _json(tmp_path: Path, document: Any) -> Path:
    return _write(tmp_path, "export.json", json.dumps(document))


GOOD_EXPORT = {
    "format": "ranklet-export",
    "version": 1,
    "exported_at": "2024-01-01T00:00:00Z",
    "site": {"slug": "x"},
    "categories": [],
    "threads": [
        {
            "article": "/a/",
            "comments": [
                {
                    "id": 1,
                    "parent_id": None,
                    "body": "ok",
                    "status": "approved",
                    "created_at": "2024-01-01T00:00:00Z",
                },
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("kind", "make", "words"),
    [
        ("isso", _not_sqlite, ["not an SQLite database"]),
        ("isso", _sqlite_without_isso, ["not an Isso database", "'threads'"]),
        ("isso", _isso_without_columns, ["not an Isso database", "created"]),
        (
            "disqus",
            lambda p: _write(p, "cut.xml", DISQUS_HEAD + "<thread dsq:id='1'>"),
            ["not valid XML"],
        ),
        (
            "disqus",
            lambda p: _write(p, "feed.xml", "<rss><channel/></rss>"),
            ["not a Disqus export", "<rss>"],
        ),
        ("json", lambda p: _write(p, "export.json", "{not json"), ["not JSON"]),
        ("json", lambda p: _json(p, [1, 2]), ["not a Ranklet export"]),
        ("json", lambda p: _json(p, {**GOOD_EXPORT, "format": "isso"}), ["not a Ranklet export"]),
        (
            "json",
            lambda p: _json(p, {**GOOD_EXPORT, "version": 2}),
            ["version 2", "reads version 1"],
        ),
        (
            "json",
            lambda p: _json(
                p,
                {
                    **GOOD_EXPORT,
                    "threads": [
                        {
                            "article": "/a/",
                            "comments": [
                                {**GOOD_EXPORT["threads"][0]["comments"][0], "status": "visible"}
                            ],
                        }
                    ],
                },
            ),
            ["threads.0.comments.0.status"],
        ),
        (
            "json",
            lambda p: _json(
                p,
                {
                    **GOOD_EXPORT,
                    "threads": [
                        {
                            "article": "/a/",
                            "comments": [
                                {
                                    **GOOD_EXPORT["threads"][0]["comments"][0],
                                    "created_at": "2024-01-01T00:00:00",
                                }
                            ],
                        }
                    ],
                },
            ),
            ["created_at"],
        ),
        (
            "json",
            lambda p: _json(
                p, {**GOOD_EXPORT, "categories": [{"key": "Bad Key", "labels": {"ja": "x"}}]}
            ),
            ["categories.0.key"],
        ),
    ],
    ids=[
        "isso-text-file",
        "isso-other-sqlite",
        "isso-missing-columns",
        "disqus-truncated",
        "disqus-rss",
        "json-garbage",
        "json-array",
        "json-format",
        "json-version",
        "json-status",
        "json-naive-time",
        "json-category-key",
    ],
)
def test_malformed_files_are_refused_with_nothing_written(
    ranklet, cli_app, tmp_path, kind, make, words
):
    make_site(ranklet, "blog")
    before = rows(cli_app)
    path = make(tmp_path)
    refused(ranklet("import", kind, str(path), "--site", "blog"), *words)
    assert rows(cli_app) == before


def test_the_good_export_of_the_malformed_cases_imports(ranklet, tmp_path):
    make_site(ranklet, "blog")
    out = ok(ranklet("import", "json", str(_json(tmp_path, GOOD_EXPORT)), "--site", "blog"))
    assert "Comments: 1 imported (1 approved)" in out.stdout


def test_import_needs_an_existing_site_and_file(ranklet, tmp_path):
    database = write_isso(tmp_path / "comments.db")
    result = ranklet("import", "isso", str(database), "--site", "nope")
    assert result.exit_code != 0 and "no site 'nope'" in result.stderr
    make_site(ranklet, "blog")
    result = ranklet("import", "isso", str(tmp_path / "missing.db"), "--site", "blog")
    assert result.exit_code != 0 and "does not exist" in result.stderr
    result = ranklet("import", "wordpress", str(database), "--site", "blog")
    assert result.exit_code != 0


def test_an_import_that_fails_half_way_writes_nothing(ranklet, cli_app, tmp_path, monkeypatch):
    make_site(ranklet, "blog")
    before = rows(cli_app)
    database = write_isso(tmp_path / "comments.db")
    calls = {"n": 0}
    real = markup.render_comment

    def failing(body: str) -> str:
        calls["n"] += 1
        if calls["n"] == 8:
            raise RuntimeError("disk on fire")
        return real(body)

    monkeypatch.setattr(markup, "render_comment", failing)
    result = ranklet("import", "isso", str(database), "--site", "blog")
    assert result.exit_code != 0
    assert isinstance(result.exception, RuntimeError)
    assert calls["n"] == 8  # seven comments had been written before the failure
    assert rows(cli_app) == before
    monkeypatch.setattr(markup, "render_comment", real)
    out = ok(ranklet("import", "isso", str(database), "--site", "blog")).stdout
    assert "Comments: 12 imported" in out


# --- the real command line -----------------------------------------------------------------------


@pytest.mark.slow
def test_the_ranklet_command_end_to_end(database_url, tmp_path):
    """What an author moving in sees: the progress line on stderr, the summary on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    env.update(
        RANKLET_INSTANCE_PATH=str(tmp_path / "instance"),
        RANKLET_DATABASE_URL=database_url,
        RANKLET_SECRET_KEY="test-secret-key",
    )

    def ranklet(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(env, *args)

    created = ranklet("site", "create", "blog", "--origin", "https://blog.example.com")
    assert created.returncode == 0, created.stderr
    isso = ranklet("import", "isso", str(write_isso(tmp_path / "comments.db")), "--site", "blog")
    assert isso.returncode == 0, isso.stderr
    assert "Importing" not in isso.stderr  # no progress bar off a terminal
    assert "Comments: 12 imported (10 approved, 1 pending, 1 deleted)" in isso.stdout
    disqus = ranklet("import", "disqus", str(write_disqus(tmp_path / "d.xml")), "--site", "blog")
    assert disqus.returncode == 0, disqus.stderr
    assert "Comments: 8 imported (6 approved, 1 spam, 1 deleted)" in disqus.stdout
    print(isso.stderr + isso.stdout + disqus.stderr + disqus.stdout)  # shown with -s

    laughs = _write(tmp_path, "laughs.xml", BILLION_LAUGHS)
    refused_run = ranklet("import", "disqus", str(laughs), "--site", "blog")
    assert refused_run.returncode == 1
    assert refused_run.stderr.startswith("Error: ") and "Traceback" not in refused_run.stderr

    dump = tmp_path / "blog.json"
    exported = ranklet("export", "blog", "--output", str(dump))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(dump.read_text(encoding="utf-8"))
    assert sum(len(t["comments"]) for t in document["threads"]) == 20
    assert datetime.fromisoformat(document["exported_at"]) <= datetime.now(UTC)
