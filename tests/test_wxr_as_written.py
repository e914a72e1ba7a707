"""WXR as WordPress and WordPress.com write it: the namespace found in the document, items
without a type, authors known by login and e-mail, WordPress's paragraph rules, and the
costs an importer must not have (quadratic regexes, memory per comment of one post)."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from test_transfer import make_site, ok
from test_wordpress_import import WpComment, WpItem, thread_comments, write, wxr

from service.comments.markup import import_html
from service.transfer.wordpress import read_wordpress
from service.transfer.wpautop import wordpress_paragraphs

LINK = "https://blog.example.com/2023/05/%e7%b5%8c%e5%96%b6/"


def _wordpress_com(items: list[WpItem], scheme: str = "https") -> str:
    """WordPress.com's export: the https namespace and authors without ids."""
    text = wxr(items).replace(
        "http://wordpress.org/export/1.2/", f"{scheme}://wordpress.org/export/1.2/"
    )
    return re.sub(r"<wp:author_id>\d+</wp:author_id>", "", text)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_namespace_is_found_in_the_document(
    ranklet: Any, cli_app: Any, tmp_path: Path, scheme: str
) -> None:
    make_site(ranklet, "blog")
    item = WpItem(10, "経営", LINK, [WpComment(100, "Hello"), WpComment(101, "Again")])
    out = ok(
        ranklet(
            "import", "wordpress", write(tmp_path, _wordpress_com([item], scheme)), "--site", "blog"
        )
    ).stdout
    assert "Comments: 2 imported (2 approved)" in out, out
    assert set(thread_comments(cli_app, "blog")) == {"/2023/05/経営/"}


def test_item_without_post_type_is_a_post(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    make_site(ranklet, "blog")
    item = WpItem(10, "経営", LINK, [WpComment(100, "Hello")])
    text = re.sub(r"<wp:post_type>.*?</wp:post_type>", "", wxr([item]))
    out = ok(ranklet("import", "wordpress", write(tmp_path, text), "--site", "blog")).stdout
    assert "Comments: 1 imported" in out, out


def test_author_mark_by_login_and_email_where_authors_have_no_ids(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    """WordPress.com: the author by e-mail (user id then known), by name; user id 0 never."""
    make_site(ranklet, "blog")
    comments = [
        WpComment(100, "by e-mail", author="Yamada", email="owner@blog.example.com", user_id=42),
        WpComment(
            101, "same user, other name", author="山田太郎", email="x@example.org", user_id=42
        ),
        WpComment(102, "by login", author="admin", email="", user_id=43),
        WpComment(103, "signed out", author="admin", email="owner@blog.example.com", user_id=0),
        WpComment(104, "another user", author="Reader", email="r@example.org", user_id=44),
    ]
    text = _wordpress_com([WpItem(10, "経営", LINK, comments)])
    ok(ranklet("import", "wordpress", write(tmp_path, text), "--site", "blog"))
    marks = {
        c["source"]: c["is_author"] for c in thread_comments(cli_app, "blog")["/2023/05/経営/"]
    }
    assert marks == {
        "wordpress:10:100": True,
        "wordpress:10:101": True,
        "wordpress:10:102": True,
        "wordpress:10:103": False,
        "wordpress:10:104": False,
    }


def test_author_mark_when_the_authors_post_comes_later(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    make_site(ranklet, "blog")
    first = WpItem(10, "a", LINK, [WpComment(100, "editor here", author="Ed", user_id=7)])
    later = WpItem(11, "b", "https://blog.example.com/b/", creator="editor")
    ok(ranklet("import", "wordpress", write(tmp_path, wxr([first, later])), "--site", "blog"))
    (comment,) = thread_comments(cli_app, "blog")["/2023/05/経営/"]
    assert comment["is_author"] is True


# --- WordPress's paragraph rules ------------------------------------------------------------


def test_block_html_gets_no_line_breaks_beside_it() -> None:
    """One real comment had 28 <br> in a row: a list, a table and headings, as typed."""
    typed = (
        "Thanks! Three points:\n\n<h3>Summary</h3>\n<ul>\n<li>one</li>\n<li>two\nlines</li>\n"
        "</ul>\n<table>\n<tr><th>Plan</th><th>Price</th></tr>\n<tr><td>A</td><td>10</td></tr>\n"
        "</table>\n<ol>\n\n<li>first</li>\n\n</ol>\nBye\nfor now"
    )
    html = import_html(wordpress_paragraphs(typed))
    assert "<br>\n<br>" not in html and not re.search(r"<br>\s*</?(ul|ol|li|p)>", html)
    assert not re.search(r"</?(ul|ol|li|p)>\s*<br>", html)
    assert html.count("<br>") == 2  # "two<br>lines" and "Bye<br>for now"
    assert "<p><strong>Summary</strong></p>" in html
    assert "<li>two<br>\nlines</li>" in html
    assert "Plan | Price" in html and "A | 10" in html
    assert "<p>Bye<br>\nfor now</p>" in html


def test_wpautop_basics() -> None:
    assert wordpress_paragraphs("a\nb\n\nc") == "<p>a<br>\nb</p>\n<p>c</p>"
    assert wordpress_paragraphs("a<br><br>b") == "<p>a</p>\n<p>b</p>"
    assert (
        wordpress_paragraphs("x\n<pre>a\n\nb</pre>\ny") == "<p>x</p>\n<pre>a\n\nb</pre>\n<p>y</p>"
    )
    quoted = wordpress_paragraphs("<blockquote>q\nr</blockquote>\n\nme")
    assert quoted == "<blockquote>\n<p>q<br>\nr</p>\n</blockquote>\n<p>me</p>"


@pytest.mark.parametrize(
    "hostile",
    [
        "<pre>" * 16_000,  # 80 KB of <pre> without a close: 14 s before
        "<pre x\n" * 10_000 + "text\n" * 1_000,
        " " * 80_000 + "x",
        "<br>" * 20_000,
        "<p" * 40_000,
        "<td>" * 20_000,
        "</td>" + " " * 80_000,
        ("a\n" * 20_000) + "<ul>",
    ],
)
def test_every_paragraph_rule_is_linear(hostile: str) -> None:
    started = time.perf_counter()
    wordpress_paragraphs(hostile)
    assert time.perf_counter() - started < 1.0


def test_an_80_kb_comment_imports_fast(ranklet: Any, cli_app: Any, tmp_path: Path) -> None:
    make_site(ranklet, "blog")
    huge = "<pre>" + "x" * 10 + ("<pre>" * 16_000)
    item = WpItem(10, "経営", LINK, [WpComment(100, huge), WpComment(101, "fine")])
    path = write(tmp_path, wxr([item]))
    started = time.perf_counter()
    out = ok(ranklet("import", "wordpress", path, "--site", "blog")).stdout
    assert time.perf_counter() - started < 5.0
    assert "1 × HTML body with more than 2,000 tags" in out and "Comments: 1 imported" in out
    many = "<pre>" * 3_000 + "x"  # under 64 KiB, but a parser's worst case: refused unparsed
    item = WpItem(11, "b", "https://blog.example.com/b/", [WpComment(200, many)])
    started = time.perf_counter()
    out = ok(
        ranklet("import", "wordpress", write(tmp_path, wxr([item]), "b.xml"), "--site", "blog")
    )
    assert time.perf_counter() - started < 5.0
    assert "1 × HTML body with more than 2,000 tags" in out.stdout, out.stdout


# --- memory ---------------------------------------------------------------------------------


def _one_post(tmp_path: Path, count: int) -> str:
    comments = "".join(
        WpComment(n, f"コメント {n} " + "x" * 400, date_gmt="2023-05-02 09:30:00").xml()
        for n in range(1, count + 1)
    )
    item = WpItem(10, "経営", LINK).xml().replace("</item>", comments + "</item>")
    return write(tmp_path, wxr([]).replace("</channel>", item + "</channel>"), f"{count}.xml")


def _peak_reading(path: str) -> int:
    tracemalloc.start()
    try:
        source = read_wordpress(path)
        seen = sum(1 for _ in source.items)
        assert seen > 1
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_one_posts_comments(tmp_path: Path) -> None:
    """Reading a post of 4,000 comments takes about what one of 500 takes: each comment is
    let go once read (before, the whole <item> with all its comments was held)."""
    small, large = _peak_reading(_one_post(tmp_path, 500)), _peak_reading(_one_post(tmp_path, 4000))
    assert large < small * 1.5 + 256 * 1024, (small, large)
