"""Imports as streams (issue 11): readers hand comments on as they read, the writer takes
them in batches inside one transaction. Each case is imported twice, with the normal
batch size and with tiny batches and a tiny in-memory limit for replies waiting for their
parent (so they go to the temporary file), and both must give exactly the same tree.
Memory is checked with tracemalloc on 1,000 and 10,000 comments: the peak must not grow
with the file. Everything runs through the CLI, on SQLite and PostgreSQL.
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
from sqlalchemy import event, select
from sqlalchemy.orm import aliased
from support import assert_import_memory_flat
from test_transfer import (
    DISQUS_HEAD,
    disqus_post,
    disqus_thread,
    make_site,
    ok,
    post,
    refused,
    rows,
    write_isso,
)
from test_wordpress_import import WpComment, WpItem, wxr

from service.comments import markup
from service.transfer import parked
from service.transfer import pipeline as transfer_pipeline
from service.transfer import rows as transfer_rows


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two comments per batch, one waiting reply in memory, bodies rendered here."""
    monkeypatch.setattr(transfer_pipeline, "BATCH_ROWS", 2)
    monkeypatch.setattr(parked, "MEMORY_LIMIT", 1)
    monkeypatch.setattr(transfer_rows, "PARALLEL_FROM_BATCH", 10**9)


def tree(cli_app: Any, slug: str) -> dict[str, tuple[Any, ...]]:
    """source key -> (article, parent's key, root's key, depth, status, html, is_author)."""
    from service.core.extensions import db
    from service.db.models import Comment, Site, Thread

    parent, root = aliased(Comment), aliased(Comment)
    with cli_app.app_context():
        site_id = db.session.scalar(select(Site.id).where(Site.slug == slug))
        found = db.session.execute(
            select(
                Comment.source_key,
                Thread.article,
                parent.source_key,
                root.source_key,
                Comment.depth,
                Comment.status,
                Comment.body_html,
                Comment.is_author,
            )
            .join(Thread, Thread.id == Comment.thread_id)
            .join(root, root.id == Comment.root_id)
            .outerjoin(parent, parent.id == Comment.parent_id)
            .where(Comment.site_id == site_id)
        )
        return {key: tuple(rest) for key, *rest in found}


def disqus_file(path: Path) -> Path:
    """Replies before their parents (a chain of 7 in reverse), a cycle, a reply whose
    parent is not in the file, a reply to another thread's comment, posts before their
    thread, and a post that appears twice."""
    posts = [
        *(
            disqus_post(f"c{n}", "100", f"<p>chain {n}</p>", 10 - n, parent=f"c{n - 1}")
            for n in range(7, 1, -1)
        ),
        disqus_post("c1", "100", "<p>chain 1</p>", 9),
        disqus_post("x1", "100", "<p>cycle one</p>", 20, parent="x2"),
        disqus_post("x2", "100", "<p>cycle two</p>", 21, parent="x1"),
        disqus_post("x3", "100", "<p>under the cycle</p>", 22, parent="x1"),
        disqus_post("m2", "100", "<p>under the orphan</p>", 31, parent="m1"),
        disqus_post("m1", "100", "<p>orphan</p>", 30, parent="gone"),
        disqus_post("a1", "101", "<p>other article</p>", 40, parent="c1"),
        disqus_post("e2", "102", "<p>early reply</p>", 51, parent="e1"),
        disqus_post("e1", "102", "<p>early post</p>", 50),
        disqus_post("c3", "100", "<p>chain 3 again</p>", 7, parent="c2"),
    ]
    threads = [
        disqus_thread("100", "https://blog.example.com/f/", "F"),
        disqus_thread("101", "https://blog.example.com/g/", "G"),
    ]
    late_thread = disqus_thread("102", "https://blog.example.com/h/", "H")
    path.write_text(
        DISQUS_HEAD + "".join([*threads, *posts[:-1], late_thread, posts[-1]]) + "\n</disqus>",
        encoding="utf-8",
    )
    return path


def test_forward_references_give_the_same_tree_in_any_batches(
    ranklet: Any, cli_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = disqus_file(tmp_path / "disqus.xml")
    make_site(ranklet, "one")
    normal = ok(ranklet("import", "disqus", str(path), "--site", "one")).stdout
    with monkeypatch.context() as patch:
        patch.setattr(transfer_pipeline, "BATCH_ROWS", 2)
        patch.setattr(parked, "MEMORY_LIMIT", 1)
        patch.setattr(transfer_rows, "PARALLEL_FROM_BATCH", 10**9)
        make_site(ranklet, "two")
        tiny = ok(ranklet("import", "disqus", str(path), "--site", "two")).stdout
    assert sorted(tiny.replace("'two'", "'one'").splitlines()) == sorted(normal.splitlines())
    assert "Comments: 15 imported (15 approved)" in normal
    for line in (
        "1 × appears twice in the file",
        "2 × reply nested deeper than 5 levels: kept at level 5",
        "1 × reply in a parent cycle: made top-level",
        "1 × reply whose parent is missing: made top-level",
        "1 × reply to another article's comment: made top-level",
    ):
        assert line in normal, normal

    one = tree(cli_app, "one")
    assert one == tree(cli_app, "two")
    shape = {
        key: (article, parent, root, depth)
        for key, (article, parent, root, depth, *_) in one.items()
    }
    assert shape == {
        "disqus:c1": ("/f/", None, "disqus:c1", 1),
        "disqus:c2": ("/f/", "disqus:c1", "disqus:c1", 2),
        "disqus:c3": ("/f/", "disqus:c2", "disqus:c1", 3),
        "disqus:c4": ("/f/", "disqus:c3", "disqus:c1", 4),
        "disqus:c5": ("/f/", "disqus:c4", "disqus:c1", 5),
        "disqus:c6": ("/f/", "disqus:c4", "disqus:c1", 5),  # beside its parent, at level 5
        "disqus:c7": ("/f/", "disqus:c4", "disqus:c1", 5),
        "disqus:x2": ("/f/", None, "disqus:x2", 1),  # the walk from x1, the oldest, cuts x2
        "disqus:x1": ("/f/", "disqus:x2", "disqus:x2", 2),
        "disqus:x3": ("/f/", "disqus:x1", "disqus:x2", 3),
        "disqus:m1": ("/f/", None, "disqus:m1", 1),
        "disqus:m2": ("/f/", "disqus:m1", "disqus:m1", 2),
        "disqus:a1": ("/g/", None, "disqus:a1", 1),
        "disqus:e1": ("/h/", None, "disqus:e1", 1),
        "disqus:e2": ("/h/", "disqus:e1", "disqus:e1", 2),
    }
    assert one["disqus:c3"][5] == "<p>chain 3</p>"  # the first copy, not the repeat

    # Idempotent in tiny batches too: everything is recognized, nothing moves.
    before = rows(cli_app)
    with monkeypatch.context() as patch:
        patch.setattr(transfer_pipeline, "BATCH_ROWS", 2)
        again = ok(ranklet("import", "disqus", str(path), "--site", "two")).stdout
    # (the repeated post counts as already there too: each copy is recognized)
    assert "Comments: 0 imported" in again and "16 × already imported" in again
    assert rows(cli_app)["comments"] == before["comments"]


def test_a_reply_finds_its_parent_from_an_earlier_file(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    make_site(ranklet, "blog")
    thread = disqus_thread("100", "https://blog.example.com/f/", "F")
    first, second = tmp_path / "2019.xml", tmp_path / "2020.xml"
    first.write_text(
        DISQUS_HEAD + thread + disqus_post("1", "100", "<p>old</p>", 1) + "</disqus>",
        encoding="utf-8",
    )
    second.write_text(
        DISQUS_HEAD + thread + disqus_post("2", "100", "<p>new</p>", 2, parent="1") + "</disqus>",
        encoding="utf-8",
    )
    ok(ranklet("import", "disqus", str(first), "--site", "blog"))
    out = ok(ranklet("import", "disqus", str(second), "--site", "blog")).stdout
    assert "Adjusted" not in out
    assert tree(cli_app, "blog")["disqus:2"][1:4] == ("disqus:1", "disqus:1", 2)


def test_a_failure_after_batches_were_written_leaves_nothing(
    ranklet: Any, cli_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_batches: None
) -> None:
    from service.core.extensions import db

    make_site(ranklet, "blog")
    before = rows(cli_app)
    database = write_isso(tmp_path / "comments.db")
    real, calls, inserts = markup.render_comment, {"n": 0}, []

    def failing(body: str) -> str:
        calls["n"] += 1
        if calls["n"] == 8:
            raise RuntimeError("disk on fire")
        return real(body)

    def count_inserts(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO comments"):
            inserts.append(statement)

    monkeypatch.setattr(markup, "render_comment", failing)
    with cli_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_inserts)
    try:
        result = ranklet("import", "isso", str(database), "--site", "blog")
    finally:
        event.remove(engine, "before_cursor_execute", count_inserts)
    assert isinstance(result.exception, RuntimeError)
    assert len(inserts) == 3  # three batches of two had been written
    assert rows(cli_app) == before
    monkeypatch.setattr(markup, "render_comment", real)
    assert (
        "Comments: 12 imported"
        in ok(ranklet("import", "isso", str(database), "--site", "blog")).stdout
    )


def test_json_in_tiny_batches_key_order_and_a_bom(
    ranklet: Any, cli_app: Any, tmp_path: Path, tiny_batches: None
) -> None:
    def comment(n: int, parent: int | None, source: str | None = None) -> dict[str, Any]:
        return {
            "id": n,
            "parent_id": parent,
            "source": source,
            "body": f"c{n}",
            "status": "approved",
            "created_at": f"2024-01-01T00:{n:02d}:00Z",
        }

    comments = [
        comment(7, 6),  # a reply four batches before its parent
        comment(1, None),
        comment(2, 1),
        comment(3, None),
        comment(4, None, "isso:9"),
        comment(5, 4),
        comment(6, None),
    ]
    document = {
        "threads": [{"article": "/a/", "title": "A", "comments": comments}],
        "site": {"slug": "elsewhere"},
        "exported_at": "2024-01-01T00:00:00Z",
        "version": 1,
        "format": "ranklet-export",
    }
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(document, indent=1).encode())
    make_site(ranklet, "blog")
    out = ok(ranklet("import", "json", str(path), "--site", "blog")).stdout
    assert "Comments: 7 imported (7 approved)" in out
    found = {key: parent for key, (_a, parent, *_rest) in tree(cli_app, "blog").items()}
    assert found == {
        "json:1": None,
        "json:2": "json:1",
        "isso:9": None,
        "json:5": "isso:9",  # its parent is known by the export's id, stored by its source
        "json:6": None,
        "json:7": "json:6",
        "json:3": None,
    }

    twice = tmp_path / "twice.json"
    text = json.dumps({**document, "threads": []})
    twice.write_text(text[:-1] + ', "threads": []}', encoding="utf-8")
    refused(ranklet("import", "json", str(twice), "--site", "blog"), 'more than one "threads"')
    cut = tmp_path / "cut.json"
    cut.write_bytes(json.dumps(document).encode()[:-40])
    before = rows(cli_app)
    refused(ranklet("import", "json", str(cut), "--site", "blog"), "is not JSON", "line 1")
    assert rows(cli_app) == before


def test_restore_into_the_same_site_across_batches(
    ranklet: Any, cli_app: Any, tmp_path: Path, tiny_batches: None
) -> None:
    from service.core.extensions import db
    from service.db.models import Comment

    site = make_site(ranklet, "blog")
    client = cli_app.test_client()
    first = post(client, site, "/a/", "first")
    for n in range(5):
        post(client, site, "/a/", f"other {n}")
    reply = post(client, site, "/a/", "late reply", parent_id=first["comment"]["id"])
    dump = tmp_path / "blog.json"
    ok(ranklet("export", "blog", "--output", str(dump)))
    with cli_app.app_context():
        db.session.delete(db.session.get(Comment, reply["comment"]["id"]))
        db.session.commit()
    out = ok(ranklet("import", "json", str(dump), "--site", "blog")).stdout
    assert "Comments: 1 imported" in out and "6 × already imported" in out
    with cli_app.app_context():
        back = db.session.scalar(select(Comment).where(Comment.body_text == "late reply"))
        assert back.parent_id == first["comment"]["id"] and back.depth == 2


def test_author_mark_when_the_authors_post_comes_later(
    ranklet: Any, cli_app: Any, tmp_path: Path
) -> None:
    items = [
        WpItem(1, "One", "https://blog.example.com/one/", [WpComment(10, "by ed", user_id=7)]),
        WpItem(2, "Two", "https://blog.example.com/two/", [WpComment(20, "hi")], creator="editor"),
    ]
    path = tmp_path / "wxr.xml"
    path.write_text(wxr(items), encoding="utf-8")
    make_site(ranklet, "blog")
    ok(ranklet("import", "wordpress", str(path), "--site", "blog"))
    found = tree(cli_app, "blog")
    assert found["wordpress:1:10"][6] is True
    assert found["wordpress:2:20"][6] is False


def test_progress_bar_on_a_terminal(tmp_path: Path, database_url: str) -> None:
    """As a user at a terminal sees it: the bar on stderr ends at 100%, the summary after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    env.update(
        RANKLET_INSTANCE_PATH=str(tmp_path / "instance"),
        RANKLET_DATABASE_URL=database_url,
        RANKLET_SECRET_KEY="test-secret-key",
    )
    command = [sys.executable, "-m", "service.cli"]
    created = subprocess.run(
        [*command, "site", "create", "blog", "--origin", "https://blog.example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    path = tmp_path / "wxr.xml"
    comments = [WpComment(n, f"comment {n}") for n in range(1, 30)]
    path.write_text(
        wxr([WpItem(1, "T", "https://blog.example.com/t/", comments)]), encoding="utf-8"
    )
    main, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [*command, "import", "wordpress", str(path), "--site", "blog", "--dry-run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert done.returncode == 0, shown
    assert "Comments: 29 imported" in done.stdout and "dry run" in done.stdout
    assert b"Importing from WordPress" in shown and b"100%" in shown


def test_memory_stays_flat(cli_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tracemalloc's peak over reader and writer: 10,000 comments may not take more than
    1,000 do by more than a few hundred KiB (any per-comment state would be ~1 MiB)."""
    from service.transfer.wordpress import read_wordpress

    monkeypatch.setattr(transfer_pipeline, "BATCH_ROWS", 100)
    monkeypatch.setattr(transfer_rows, "PARALLEL_FROM_BATCH", 10**9)

    def wxr_file(count: int) -> Path:
        items = [
            WpItem(
                post,
                f"post {post}",
                f"https://blog.example.com/{post}/",
                [
                    WpComment(
                        post * 100 + n,
                        f"comment {n} on {post}",
                        parent=post * 100 + n - 1 if n % 3 == 0 else 0,
                    )
                    for n in range(1, 51)
                ],
            )
            for post in range(1, count // 50 + 1)
        ]
        path = tmp_path / f"{count}.xml"
        path.write_text(wxr(items), encoding="utf-8")
        return path

    assert_import_memory_flat(cli_app, wxr_file, read_wordpress)
