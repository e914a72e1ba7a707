"""Imports hold the API's field rules and refuse hostile files cleanly (issue 10 item 7,
issue 11): an over-long comment is skipped and counted, deep nesting and giant numbers are
a one-sentence refusal, and a fuzzer per format checks that any mutated, truncated or
nested file ends in success or in a clean refusal (exit 1, "Error: ...", no traceback)
with nothing written.

``RANKLET_FUZZ_LONG=1`` runs the fuzzers with many more examples.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transfer import make_site, ok, refused, rows, write_disqus, write_isso
from test_wordpress_import import WpComment, WpItem, blog, wxr

FUZZ = settings(
    max_examples=400 if os.environ.get("RANKLET_FUZZ_LONG") else 12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def export_doc(*bodies: str, **comment: Any) -> dict[str, Any]:
    return {
        "format": "ranklet-export",
        "version": 1,
        "exported_at": "2024-01-01T00:00:00Z",
        "site": {"slug": "elsewhere"},
        "threads": [
            {
                "article": "/post/",
                "comments": [
                    {
                        "id": n + 1,
                        "body": body,
                        "status": "approved",
                        "created_at": "2023-01-01T00:00:00Z",
                        **comment,
                    }
                    for n, body in enumerate(bodies)
                ],
            }
        ],
    }


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_million_character_comment_is_skipped_and_counted(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    doc = export_doc("fine", "x" * 1_000_000, "y" * 5000, "\x01\x02 control \x7f chars")
    out = ok(
        ranklet("import", "json", write(tmp_path, "e.json", json.dumps(doc)), "--site", site.slug)
    )
    assert "Comments: 3 imported" in out.stdout, out.stdout
    assert "1 × body longer than 5,000 characters (the API's limit)" in out.stdout
    exported = json.loads(ok(ranklet("export", "blog")).stdout)
    bodies = [c["body"] for t in exported["threads"] for c in t["comments"]]
    assert sorted(bodies) == ["control  chars", "fine", "y" * 5000]


def test_wordpress_overlong_and_empty_comments_are_skipped(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    item = WpItem(
        1,
        "t",
        "https://blog.example.com/t/",
        [WpComment(1, "<p>" + "長" * 6000 + "</p>"), WpComment(2, "   "), WpComment(3, "ok")],
    )
    huge_id = WpComment(int("9" * 200), "big id")
    item.comments.append(huge_id)
    out = ok(
        ranklet("import", "wordpress", write(tmp_path, "w.xml", wxr([item])), "--site", site.slug)
    )
    assert "Comments: 1 imported" in out.stdout, out.stdout
    assert "1 × body longer than 5,000 characters" in out.stdout
    assert "1 × empty body" in out.stdout
    assert "1 × source id longer than 128 characters" in out.stdout


def test_isso_out_of_range_numbers(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    site = make_site(ranklet, "blog")
    database = write_isso(tmp_path / "comments.db")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE comments SET likes = 9223372036854775807 WHERE id = 1")
        connection.execute("UPDATE comments SET created = 1e300 WHERE id = 2")
        connection.execute("UPDATE comments SET created = 'NaN' WHERE id = 3")
    connection.close()
    out = ok(ranklet("import", "isso", str(database), "--site", site.slug)).stdout
    assert "2 × no valid creation time" in out, out
    exported = json.loads(ok(ranklet("export", "blog")).stdout)
    likes = {c["source"]: c["likes"] for t in exported["threads"] for c in t["comments"]}
    assert likes["isso:1"] == 0


def test_deep_nesting_and_giant_numbers_are_refused(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    before = rows(cli_app)
    cases = {
        "deep.json": ("[" * 100_000, ["nests"]),
        "digits.json": ('{"format": "ranklet-export", "version": 1' + "1" * 5000 + "}", ["number"]),
        "big-id.json": (json.dumps(export_doc("a", id=2**70)), ["comments.0.id", "2147483647"]),
        "big-likes.json": (json.dumps(export_doc("a", likes=-(2**64))), ["likes"]),
        "deep.xml": ("<a>" * 100_000, ["not a WordPress export"]),
    }
    for name, (text, words) in cases.items():
        command = "wordpress" if name.endswith(".xml") else "json"
        result = ranklet("import", command, write(tmp_path, name, text), "--site", site.slug)
        refused(result, *words)
        assert rows(cli_app) == before, name


def test_deep_xml_inside_channel_is_refused_or_read(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    text = wxr(blog()).replace("<generator>", "<x>" * 50_000 + "</x>" * 50_000 + "<generator>")
    result = ranklet("import", "wordpress", write(tmp_path, "d.xml", text), "--site", site.slug)
    assert result.exit_code == 0, result.output
    assert "Comments: 8 imported" in result.stdout


# --- fuzzers: whatever the file, a summary or a clean refusal, never a traceback ---------


def mutate(data: bytes, draw: Any) -> bytes:
    kind = draw(st.sampled_from(["truncate", "splice", "nest", "number", "repeat"]))
    at = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return data[:at]
    if kind == "splice":
        junk = draw(st.binary(max_size=40) | st.sampled_from([b"]]>", b"<!DOCTYPE x>", b"&x;"]))
        return data[:at] + junk + data[at + draw(st.integers(0, 40)) :]
    if kind == "nest":
        piece = draw(st.sampled_from([b"[", b"{", b"<a>", b'{"a":']))
        return data[:at] + piece * draw(st.integers(1, 20_000)) + data[at:]
    if kind == "number":
        digits = b"9" * draw(st.integers(19, 6000))
        return data[:at] + draw(st.sampled_from([b"", b"-"])) + digits + data[at:]
    return data[:at] + data[at : at + 200] * draw(st.integers(2, 50)) + data[at:]


def clean_outcome(result: Any, cli_app: Any, before: dict[str, int]) -> None:
    assert "Traceback" not in result.output + (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if result.exit_code != 0:
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Nothing was imported" in result.stderr
        assert rows(cli_app) == before


def fuzz_format(ranklet: Any, cli_app: Any, tmp_path: Path, command: str, seed: bytes) -> None:
    site = make_site(ranklet, "blog")

    @FUZZ
    @given(st.data())
    def run(data: Any) -> None:
        mutated = mutate(seed, data.draw)
        before = rows(cli_app)
        path = write(tmp_path, f"fuzz.{command}", mutated)
        clean_outcome(ranklet("import", command, path, "--site", site.slug), cli_app, before)

    run()


def test_fuzz_wordpress(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    fuzz_format(ranklet, cli_app, tmp_path, "wordpress", wxr(blog()).encode())


def test_fuzz_disqus(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    fuzz_format(ranklet, cli_app, tmp_path, "disqus", write_disqus(tmp_path / "d.xml").read_bytes())


def test_fuzz_json(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    doc = export_doc("one **two**", "three", likes=2)
    doc["threads"][0]["comments"][1]["parent_id"] = 1
    fuzz_format(ranklet, cli_app, tmp_path, "json", json.dumps(doc, indent=1).encode())


def test_fuzz_isso(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    """Isso files are SQLite: byte-level damage, and rows with out-of-range values."""
    seed = write_isso(tmp_path / "seed.db").read_bytes()
    site = make_site(ranklet, "blog")
    values = st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.just("x" * 6000),
        st.binary(max_size=20),
        st.none(),
    )

    @FUZZ
    @given(st.data())
    def run(data: Any) -> None:
        path = tmp_path / "fuzz.db"
        if data.draw(st.booleans()):
            path.write_bytes(mutate(seed, data.draw))
        else:
            path.write_bytes(seed)
            column = data.draw(
                st.sampled_from(
                    [
                        "tid",
                        "parent",
                        "created",
                        "modified",
                        "mode",
                        "text",
                        "author",
                        "email",
                        "website",
                        "likes",
                        "notification",
                    ]
                )
            )
            value = data.draw(values)
            with sqlite3.connect(path) as connection:
                try:
                    connection.execute(f"UPDATE comments SET {column} = ?", (value,))
                except sqlite3.IntegrityError:  # Isso's own schema refuses it (NOT NULL)
                    return
            connection.close()
        before = rows(cli_app)
        result = ranklet("import", "isso", str(path), "--site", site.slug)
        clean_outcome(result, cli_app, before)

    run()


# --- the API's text rules hold for what an import stores -------------------------------

HOSTILE_TEXT = [
    "a\x00b",
    "\x1b[31m",
    "\u202eevil",
    "x\u2066y",
    "   ",
    "\t\n",
    "x\ud800y",  # written as the escape \ud800: a half surrogate pair
    "x" * 300,
    "https://x.example/\u202e",
    "https://x.example/a b",
    "a\x00@x.example",
    "a@x.example\u200f",
    "javascript:alert(1)",
]
# Where a text goes in an export document: (path to the object, field).
TEXT_FIELDS = [
    (("categories", 0, "labels"), "ja"),
    (("categories", 0), "url"),
    (("threads", 0), "article"),
    (("threads", 0), "title"),
    (("threads", 0), "url"),
    (("threads", 0, "comments", 0), "author"),
    (("threads", 0, "comments", 0), "email"),
    (("threads", 0, "comments", 0), "website"),
    (("threads", 0, "comments", 0), "body"),
    (("threads", 0, "comments", 0), "source"),
]


def assert_stored_texts_follow_the_rules(exported: dict[str, Any]) -> None:
    from service.core.text_rules import (
        CONTROL_RE,
        LABEL_MAX,
        article_problem,
        email_problem,
        line_problem,
        link_problem,
        name_problem,
    )

    for category in exported["categories"]:
        for label in category["labels"].values():
            assert name_problem(label, LABEL_MAX) is None, ascii(label)
        assert category["url"] is None or link_problem(category["url"]) is None
    for thread in exported["threads"]:
        assert article_problem(thread["article"]) is None, ascii(thread["article"])
        assert thread["title"] is None or line_problem(thread["title"]) is None
        assert thread["url"] is None or link_problem(thread["url"]) is None
        for comment in thread["comments"]:
            assert comment["author"] is None or line_problem(comment["author"]) is None
            assert comment["email"] is None or email_problem(comment["email"]) is None
            assert comment["website"] is None or link_problem(comment["website"], 256) is None
            assert not CONTROL_RE.search(comment["body"] or ""), ascii(comment["body"])


def test_fuzz_json_fields_hold_the_api_text_rules(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """Any text in any field: a clean refusal, or stored only as the API would store it."""
    site = make_site(ranklet, "blog")

    @FUZZ
    @given(st.data())
    def run(data: Any) -> None:
        doc = export_doc("fine", email="r@example.com", website="https://r.example")
        doc["categories"] = [{"key": "seo", "labels": {"ja": "検索", "en": "SEO"}, "history": []}]
        for _ in range(data.draw(st.integers(1, 3))):
            where, name = data.draw(st.sampled_from(TEXT_FIELDS))
            target: Any = doc
            for step in where:
                target = target[step]
            target[name] = data.draw(st.sampled_from(HOSTILE_TEXT) | st.text(max_size=20))
        before = rows(cli_app)
        path = write(tmp_path, "fields.json", json.dumps(doc))
        result = ranklet("import", "json", path, "--site", site.slug)
        clean_outcome(result, cli_app, before)
        if result.exit_code == 0:
            assert_stored_texts_follow_the_rules(json.loads(ok(ranklet("export", "blog")).stdout))

    run()


@pytest.mark.parametrize(
    ("where", "name", "value", "words"),
    [
        (("categories", 0, "labels"), "ja", "a\x00b", ["labels.ja", "Control characters"]),
        (("categories", 0, "labels"), "ja", "\u202eevil", ["labels.ja", "Bidirectional"]),
        (("categories", 0, "labels"), "en", "   ", ["labels.en", "not only spaces"]),
        (("categories", 0), "url", "https://x.example/\u202e", ["categories.0.url"]),
        (("threads", 0, "comments", 0), "body", "x\ud800", ["unpaired surrogate"]),
        (("threads", 0), "article", "/a\udfff", ["unpaired surrogate"]),
    ],
)
def test_json_import_refuses_texts_the_api_refuses(
    ranklet: Any, cli_app: Any, tmp_path: Path, where: Any, name: str, value: str, words: Any
) -> None:
    site = make_site(ranklet, "blog")
    doc = export_doc("fine")
    doc["categories"] = [{"key": "seo", "labels": {"ja": "検索", "en": "SEO"}, "history": []}]
    target: Any = doc
    for step in where:
        target = target[step]
    target[name] = value
    before = rows(cli_app)
    result = ranklet(
        "import", "json", write(tmp_path, "e.json", json.dumps(doc)), "--site", site.slug
    )
    message = refused(result, *words)
    assert ".. " not in message
    assert rows(cli_app) == before


def test_json_import_drops_addresses_and_links_the_api_refuses(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    site = make_site(ranklet, "blog")
    doc = export_doc("fine", email="a\x00@x.example", website="https://x.example/\u202e")
    out = ok(
        ranklet("import", "json", write(tmp_path, "e.json", json.dumps(doc)), "--site", site.slug)
    )
    assert "1 × e-mail address that is not one: dropped" in out.stdout, out.stdout
    assert "1 × website that is not an http(s) URL: dropped" in out.stdout
    comment = json.loads(ok(ranklet("export", "blog")).stdout)["threads"][0]["comments"][0]
    assert comment["email"] is None and comment["website"] is None


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("comments.csv", "author,body\nann,hello\n"),
        ("export.json", '{"threads": []}'),
        ("archive.zip", b"PK\x03\x04\x14\x00\x00\x00binary"),
    ],
)
@pytest.mark.parametrize("fmt", ["wordpress", "disqus"])
def test_a_file_that_is_not_xml_is_called_so_not_truncated(
    ranklet: Any, cli_app: Any, tmp_path: Path, name: str, data: str | bytes, fmt: str
) -> None:
    site = make_site(ranklet, "blog")
    result = ranklet("import", fmt, write(tmp_path, name, data), "--site", site.slug)
    message = refused(result, "is not an XML file")
    assert "truncated" not in message


def test_markdown_and_html_meet_the_limit_on_their_visible_text(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """A Markdown body (Isso, JSON) is measured like WordPress's HTML: by what a reader
    sees. A long link target is not text; 6,000 visible characters are over either way."""
    site = make_site(ranklet, "blog")
    link = "[資料](https://example.com/" + "a" * 5200 + ")"
    doc = export_doc(link, "長" * 6000)
    out = ok(
        ranklet("import", "json", write(tmp_path, "e.json", json.dumps(doc)), "--site", site.slug)
    )
    assert "Comments: 1 imported" in out.stdout, out.stdout
    assert "1 × body longer than 5,000 characters (the API's limit)" in out.stdout
    item = WpItem(
        1,
        "t",
        "https://blog.example.com/t/",
        [WpComment(1, '<a href="https://example.com/' + "a" * 5200 + '">資料</a>')],
    )
    out = ok(
        ranklet("import", "wordpress", write(tmp_path, "w.xml", wxr([item])), "--site", site.slug)
    )
    assert "Comments: 1 imported" in out.stdout, out.stdout
