"""One article, however its address is spelled, is one thread: the canonical key (API.md §4)
as a function (properties), at the API's doors, and in the migration that merges the threads
today's main split."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from service.core.text_rules import article_from_url, canonical_article

JA = "/2023/05/経営/"
SPELLINGS = (JA, "/2023/05/%E7%B5%8C%E5%96%B6/", "/2023/05/%e7%b5%8c%e5%96%b6/")
ORIGIN = {"Origin": "https://blog.example.com"}


# --- the function -------------------------------------------------------------------------


@given(st.text(max_size=80))
def test_canonical_is_idempotent(key: str) -> None:
    once = canonical_article(key)
    assert canonical_article(once) == once


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="%"),
        max_size=40,
    )
)
def test_every_escaping_of_text_is_one_key(text: str) -> None:
    """Raw, browser-escaped (upper case) and WordPress-escaped (lower case) spellings of a
    path give one key: the text itself, in NFC."""
    path = "/" + text
    upper = quote(path, safe=_PRINTABLE_ASCII)
    lower = "".join(part if i % 2 == 0 else part.lower() for i, part in enumerate(_split(upper)))
    expected = unicodedata.normalize("NFC", path)
    assert canonical_article(path) == canonical_article(upper) == canonical_article(lower)
    assert canonical_article(upper) == expected


@given(st.text(alphabet="/:?#[]@!$&'()*+,;= ", min_size=1, max_size=20))
def test_reserved_characters_keep_their_escapes(text: str) -> None:
    escaped = "".join(f"%{ord(c):02x}" for c in text)
    assert canonical_article(escaped) == escaped.upper()


def _split(escaped: str) -> list[str]:
    """Text and escapes, alternating (escapes at odd indexes)."""
    parts, text, index = [], "", 0
    while index < len(escaped):
        if escaped[index] == "%":
            parts += [text, escaped[index : index + 3]]
            text, index = "", index + 3
        else:
            text, index = text + escaped[index], index + 1
    return [*parts, text]


@given(st.text(alphabet="%2AaEe8C\u0301\u0300\u0308/c", max_size=30))
def test_idempotent_where_escapes_meet_combining_marks(key: str) -> None:
    once = canonical_article(key)
    assert canonical_article(once) == once
    assert canonical_article("/%2A\u0301") == "/%2A\u0301"  # not "%2Á"


@given(st.binary(max_size=12))
def test_bytes_that_are_not_utf8_stay_escaped_upper_case(raw: bytes) -> None:
    escaped = "/" + "".join(f"%{b:02x}" for b in raw)
    canonical = canonical_article(escaped)
    assert canonical_article(canonical) == canonical
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert "%" in canonical and canonical == canonical_article(escaped.upper())


def test_the_rules_by_example() -> None:
    for spelling in SPELLINGS:
        assert canonical_article(spelling) == JA
    assert canonical_article("/a%2fb/") == "/a%2Fb/"  # reserved: stays escaped, upper case
    assert canonical_article("/%7euser/%41") == "/~user/A"  # unreserved: decoded
    assert canonical_article("/%E7%B5/") == "/%E7%B5/"  # a cut UTF-8 sequence
    assert canonical_article("/%e7%b5/") == "/%E7%B5/"
    assert canonical_article("/%0a/") == "/%0A/"  # a control character is never decoded
    assert canonical_article("/%C2%85/") == "/%C2%85/"  # nor a C1 control
    assert canonical_article("/100%/") == "/100%25/"  # a % that starts no escape
    assert canonical_article("/cafe\u0301/") == "/caf\u00e9/"  # NFC
    assert canonical_article("/caf%65%CC%81/") == "/caf\u00e9/"
    assert canonical_article("/?p=1") == "/?p=1"


def test_keys_from_addresses_keep_plain_permalinks_only() -> None:
    assert article_from_url("http://example.com/?p=1") == "/?p=1"
    assert article_from_url("https://example.com/?page_id=7&preview=true") == "/?page_id=7"
    assert article_from_url("https://example.com/blog/?utm_source=x&p=12#c") == "/blog/?p=12"
    assert article_from_url("https://example.com/2023/05/%e7%b5%8c%e5%96%b6/?utm=1#x") == JA
    assert article_from_url("https://example.com") == "/"
    assert article_from_url("https://example.com/?p=abc") == "/"
    assert article_from_url("  ") is None


# --- the API's doors ------------------------------------------------------------------------


def test_three_spellings_are_one_thread_everywhere(client: Any, site: Any) -> None:
    for number, spelling in enumerate(SPELLINGS):
        posted = client.post(
            "/api/v1/sites/blog/comments",
            json={"article": spelling, "body": f"comment {number}"},
            headers=ORIGIN,
        )
        assert posted.status_code == 201, posted.get_json()
    for spelling in SPELLINGS:
        answer = client.get("/api/v1/sites/blog/comments", query_string={"article": spelling})
        body = answer.get_json()
        assert body["article"] == JA and body["total"] == 3, body
        widget = client.get("/api/v1/sites/blog/widget", query_string={"article": spelling})
        assert widget.get_json()["comments"]["total"] == 3
    counts = client.get(
        "/api/v1/sites/blog/counts", query_string=[("article", s) for s in SPELLINGS]
    ).get_json()
    assert counts == {"counts": {JA: 3}}
    feed = client.get("/feeds/blog.atom", query_string={"article": SPELLINGS[2]})
    text = feed.get_data(as_text=True)
    assert "経営" in text and text.count("<entry>") == 3
    moderation = client.get(
        "/api/v1/sites/blog/moderation",
        query_string={"status": "approved"},
        headers={"Authorization": f"Bearer {site.token}"},
    ).get_json()
    assert {c["article"] for c in moderation["comments"]} == {JA}
    # The admin lists the one thread, written as readers read it.
    from test_admin import sign_in

    sign_in(client, site)
    listing = client.get("/admin/articles").get_data(as_text=True)
    assert listing.count("/2023/05/経営/") >= 1 and "%E7" not in listing and "%e7" not in listing


def test_repeated_counts_are_answered_from_the_hot_path_in_canonical_form(
    app: Any, site: Any
) -> None:
    """The hot-read layer keys by the raw query; each spelling's answer still names the one
    canonical thread, and a new comment in any spelling is seen by all of them."""
    client = app.test_client()
    client.post(
        "/api/v1/sites/blog/comments", json={"article": JA, "body": "first"}, headers=ORIGIN
    )
    for _ in range(2):
        for spelling in SPELLINGS:
            answer = client.get("/api/v1/sites/blog/counts", query_string={"article": spelling})
            assert answer.get_json() == {"counts": {JA: 1}}
    client.post(
        "/api/v1/sites/blog/comments",
        json={"article": SPELLINGS[1], "body": "second"},
        headers=ORIGIN,
    )
    for spelling in SPELLINGS:
        answer = client.get("/api/v1/sites/blog/counts", query_string={"article": spelling})
        assert answer.get_json() == {"counts": {JA: 2}}


# --- the migration --------------------------------------------------------------------------


def _comment(site_id: int, thread_id: int, body: str, status: str = "approved") -> Any:
    from service.db.models import Comment

    return Comment(
        site_id=site_id,
        thread_id=thread_id,
        depth=1,
        avatar="a" * 16,
        body_text=body,
        body_html=f"<p>{body}</p>",
        status=status,
    )


def test_migration_merges_the_threads_main_split(cli_app: Any) -> None:
    """Data as today's main stores it (each key as it came), then the upgrade: one thread
    per canonical key, every comment kept, counts and replies right; a second run is a
    no-op."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import select

    from service import MIGRATIONS_DIR
    from service.core.extensions import db
    from service.db.models import Comment, Thread
    from service.sites.settings import SiteSettings, create_site

    with cli_app.app_context():
        # Rows are written with today's models at the head, keys as they came, then the
        # schema goes back to 0003 (0004 is data only) so the upgrade below runs 0004 on them.
        upgrade(directory=MIGRATIONS_DIR)
        site, _ = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
        other, _ = create_site("other", SiteSettings(origins=["https://other.example.com"]))
        made = {}
        for spelling, version in zip(SPELLINGS, (3, 7, 1), strict=True):
            thread = Thread(site_id=site.id, article=spelling, version=version, approved_count=0)
            thread.title = "経営の話" if spelling == SPELLINGS[1] else None
            db.session.add(thread)
            db.session.flush()
            made[spelling] = thread.id
        plain = Thread(site_id=site.id, article="/about/", title="About", approved_count=1)
        elsewhere = Thread(site_id=other.id, article=SPELLINGS[2], approved_count=1)
        db.session.add_all([plain, elsewhere])
        db.session.flush()
        top = _comment(site.id, made[SPELLINGS[2]], "imported from WordPress")
        db.session.add(top)
        db.session.flush()
        top.root_id = top.id
        reply = _comment(site.id, made[SPELLINGS[1]], "a reader's reply")
        reply.parent_id, reply.root_id, reply.depth = top.id, top.id, 2
        db.session.add_all(
            [
                reply,
                _comment(site.id, made[JA], "shared link"),
                _comment(site.id, made[JA], "held", status="pending"),
                _comment(site.id, plain.id, "about"),
                _comment(other.id, elsewhere.id, "other site"),
            ]
        )
        for spelling, count in zip(SPELLINGS, (2, 1, 1), strict=True):
            db.session.get(Thread, made[spelling]).approved_count = count
        db.session.commit()
        before = db.session.scalar(select(db.func.count()).select_from(Comment))
        site_id, other_id, reply_id, top_id = site.id, other.id, reply.id, top.id
        db.session.remove()  # end the read: the upgrade runs on its own connection

        downgrade(directory=MIGRATIONS_DIR, revision="0003_language")
        upgrade(directory=MIGRATIONS_DIR)
        upgrade(directory=MIGRATIONS_DIR)  # idempotent: at head, nothing more to do
        threads = db.session.scalars(select(Thread).order_by(Thread.site_id, Thread.id)).all()
        mine = [t for t in threads if t.site_id == site_id]
        assert sorted(t.article for t in mine) == ["/2023/05/経営/", "/about/"]
        merged = next(t for t in mine if t.article == JA)
        assert merged.id == made[JA]  # the thread already spelled canonically is kept
        assert merged.title == "経営の話" and merged.approved_count == 3
        assert merged.version == 8  # past every merged thread's version: fresh ETags
        assert [t.article for t in threads if t.site_id == other_id] == [JA]
        assert db.session.scalar(select(db.func.count()).select_from(Comment)) == before
        moved = db.session.get(Comment, reply_id)
        assert moved.thread_id == merged.id and moved.parent_id == top_id

    client = cli_app.test_client()
    for spelling in SPELLINGS:
        body = client.get("/api/v1/sites/blog/comments", query_string={"article": spelling})
        thread = body.get_json()
        assert thread["article"] == JA and thread["total"] == 3
        assert thread["comments"][0]["replies"][0]["body_html"] == "<p>a reader's reply</p>"


def test_migration_rerun_on_canonical_data_changes_nothing(cli_app: Any) -> None:
    """The upgrade's own step run again over merged data: nothing moves, nothing goes."""
    import importlib

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from flask_migrate import upgrade
    from sqlalchemy import select

    from service import MIGRATIONS_DIR
    from service.core.extensions import db
    from service.db.models import Thread
    from service.sites.settings import SiteSettings, create_site

    step = importlib.import_module("service.db.migrations.versions.0004_canonical_articles")
    with cli_app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        site, _ = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
        db.session.add(Thread(site_id=site.id, article=JA, version=2, approved_count=0))
        db.session.commit()
        db.session.remove()
        with db.engine.begin() as connection:
            context = MigrationContext.configure(connection)
            with Operations.context(context):
                step.upgrade()
        row = db.session.execute(select(Thread.article, Thread.version)).one()
        assert tuple(row) == (JA, 2)


# --- the import pipeline: any reader gets the canonical key ---------------------------------


@given(st.text(max_size=60))
def test_keys_from_addresses_are_canonical(path: str) -> None:
    key = article_from_url("https://blog.example.com/" + path)
    assert key is None or canonical_article(key) == key


def test_pipeline_files_every_spelling_under_one_thread(app: Any, client: Any, site: Any) -> None:
    """A reader that hands on keys as its file spells them (as the Movable Type and Blogger
    readers may) still lands in the thread the API made: the pipeline canonicalizes."""
    from datetime import UTC, datetime

    from service.db.models import Site
    from service.transfer.items import ImportSource, IncomingComment, IncomingThread
    from service.transfer.pipeline import apply_import

    client.post("/api/v1/sites/blog/comments", json={"article": JA, "body": "live"}, headers=ORIGIN)
    items = [IncomingThread(SPELLINGS[2], "経営の話")] + [
        IncomingComment(
            source_key=f"test:{n}",
            article=spelling,
            created_at=datetime(2023, 5, 2, tzinfo=UTC),
            status="approved",
            body_text=f"imported {n}",
        )
        for n, spelling in enumerate(SPELLINGS[1:] * 2)
    ]
    with app.app_context():
        from service.core.extensions import db

        target = db.session.scalar(db.select(Site).where(Site.slug == "blog"))
        summary = apply_import(target, ImportSource("Test", iter(items)))
    assert summary.comments == 4 and summary.threads == 1 and summary.threads_created == 0
    body = client.get("/api/v1/sites/blog/comments", query_string={"article": JA}).get_json()
    assert body["total"] == 5
