"""Privacy at rest and in public answers (issue 3, contract §4).

Comments are written with a known e-mail address and a known client address, then the raw
database is read (the SQLite file and its WAL, or a ``pg_dump`` of the test's schema) and
must contain neither, nor any plain hash of them, nor an edit token or the site token.
Public answers may not contain them either; only the moderation answer shows the e-mail,
decrypted.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import String, Text, inspect, select, text
from support import PG_URL, has_command

BASE = "/api/v1/sites/blog"
EMAIL = "secret.person@example.org"
EMAIL_AS_TYPED = "Secret.Person@Example.ORG"
SITE_EMAIL = "owner.private@example.net"
IP = "203.0.113.77"
READER = {"REMOTE_ADDR": IP}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The default rate-limit store (a SQLite file in the instance folder), switched on."""
    return {**app_config, "RATELIMIT_STORAGE_URI": None, "COMMENT_RATE_LIMIT": "100/minute"}


def plain_hashes(value: str) -> set[str]:
    """Unsalted digests someone could match against a list of known addresses."""
    found = set()
    for variant in {value, value.lower(), value.strip().lower()}:
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            found.add(hashlib.new(algorithm, variant.encode()).hexdigest())
    return found


def forbidden(tokens: list[str]) -> dict[str, str]:
    """Name -> lowercase text that must appear nowhere."""
    needles = {"e-mail": EMAIL.lower(), "site e-mail": SITE_EMAIL.lower(), "IP": IP}
    for value in (EMAIL, EMAIL_AS_TYPED, SITE_EMAIL, IP):
        for digest in plain_hashes(value):
            needles[f"hash of {value} {digest[:8]}"] = digest
    for n, token in enumerate(tokens):
        needles[f"token {n}"] = token.lower()
    return needles


def assert_clean(blob: bytes | str, needles: dict[str, str], where: str) -> None:
    haystack = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    haystack = haystack.lower()
    leaks = [name for name, needle in needles.items() if needle in haystack]
    assert not leaks, f"{where} contains {leaks}"


def answer_text(answer: Any) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    return headers + "\n" + answer.get_data(as_text=True)


def write_activity(client: Any, site: Any, app: Any) -> tuple[list[str], list[Any]]:
    """Everything a reader and an author do; returns the tokens seen and every answer."""
    from service.sites.settings import SiteSettings, get_site, update_site

    with app.app_context():
        update_site(
            get_site("blog"),
            SiteSettings(webhook_url="https://hooks.example/ranklet", notify_email=SITE_EMAIL),
        )
    app.config["SMTP_HOST"] = "127.0.0.1"  # queue reply and author e-mails (never sent here)
    answers: list[Any] = []

    def keep(answer: Any, *statuses: int) -> Any:
        assert answer.status_code in statuses, answer.get_data(as_text=True)
        answers.append(answer)
        return answer

    def post(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return client.post(
            f"{BASE}/comments", json=body, headers=headers or {}, environ_base=READER
        )

    first = keep(
        post(
            {
                "article": "/post/1",
                "article_title": "A post",
                "author": "Secret Person",
                "email": EMAIL_AS_TYPED,
                "website": "https://person.example/",
                "body": "Hello, I am a reader.",
                "notify": True,
            }
        ),
        201,
    ).get_json()
    reply = keep(
        post(
            {
                "article": "/post/1",
                "parent_id": first["comment"]["id"],
                "email": EMAIL,
                "body": "Replying to myself.",
                "notify": True,
            }
        ),
        201,
    ).get_json()
    author = keep(
        post(
            {"article": "/post/1", "parent_id": first["comment"]["id"], "body": "Thanks!"},
            site.auth,
        ),
        201,
    ).get_json()
    held = keep(
        post(
            {
                "article": "/post/2",
                "email": EMAIL,
                "body": " ".join(f"https://l{n}.example" for n in range(4)),
            }
        ),
        202,
    ).get_json()
    spam = keep(
        post({"article": "/post/2", "email": EMAIL, "body": "spam", "homepage": "x"}), 201
    ).get_json()
    tokens = [site.token] + [a["edit_token"] for a in (first, reply, author, held, spam)]

    keep(
        client.patch(
            f"{BASE}/comments/{reply['comment']['id']}",
            json={"body": "Edited reply."},
            headers={"X-Edit-Token": reply["edit_token"]},
            environ_base=READER,
        ),
        200,
    )
    keep(
        client.delete(
            f"{BASE}/comments/{held['comment']['id']}",
            headers={"X-Edit-Token": held["edit_token"]},
            environ_base=READER,
        ),
        204,
    )
    for comment_id in (first["comment"]["id"], author["comment"]["id"]):
        for _ in range(2):
            keep(client.post(f"{BASE}/comments/{comment_id}/like", environ_base=READER), 200)
    keep(
        client.post(
            f"{BASE}/comments/{first['comment']['id']}/like",
            headers={"X-Forwarded-For": "198.51.100.9"},
            environ_base=READER,
        ),
        200,
    )
    return tokens, answers


def public_answers(client: Any, site: Any) -> list[Any]:
    """Every public read, and error answers provoked with the private values in them."""
    gets = [
        f"{BASE}/comments?article=/post/1",
        f"{BASE}/comments?article=/post/1&sort=top",
        f"{BASE}/comments?article=/post/2",
        f"{BASE}/widget?article=/post/1",
        f"{BASE}/counts?article=/post/1&article=/post/2",
        f"{BASE}/rankings",
        "/feeds/blog.atom",
        "/feeds/blog.atom?article=/post/1",
        "/badge/blog/consulting.svg",
        "/badge/blog/consulting/history.svg",
        "/badge/blog/nosuch.svg",
        f"{BASE}/comments?article=/post/1&cursor=bad",
        f"{BASE}/comments/1/nope",
    ]
    answers = [client.get(url, environ_base=READER) for url in gets]
    for body, headers in (
        ({"article": "/post/1", "email": EMAIL, "body": ""}, {}),
        ({"article": "/post/1", "email": EMAIL + "x@", "body": "x"}, {}),
        ({"article": "/post/1", "email": EMAIL, "body": "x", "status": "approved"}, {}),
        ({"article": "/post/1", "email": EMAIL, "body": "x"}, {"Origin": "https://evil.example"}),
        ({"article": "/post/1", "email": EMAIL, "body": "x", "parent_id": 99999}, {}),
        ({"article": "/post/1", "email": EMAIL, "body": "x"}, {"Authorization": "Bearer nope"}),
    ):
        answer = client.post(f"{BASE}/comments", json=body, headers=headers, environ_base=READER)
        assert answer.status_code >= 400
        answers.append(answer)
    answers.append(
        client.patch(f"{BASE}/comments/1", json={"body": "x"}, headers={"X-Edit-Token": "et_x"})
    )
    return answers


def test_public_answers_never_contain_the_email_the_ip_or_their_hashes(client, site, app):
    tokens, written = write_activity(client, site, app)
    needles = forbidden(tokens[1:])  # a reader may see their own edit token, nothing more
    for answer in written:
        if answer.status_code == 204:
            continue
        data = answer.get_json()
        # The writer gets their own edit token back, and nothing private.
        own = {str(data.get("edit_token")).lower()} if isinstance(data, dict) else set()
        assert_clean(
            answer_text(answer),
            {k: v for k, v in needles.items() if v not in own},
            f"answer to {answer.request.method} {answer.request.path}",
        )
    for answer in public_answers(client, site):
        assert_clean(answer_text(answer), needles, f"GET {answer.request.full_path}")
        assert "traceback" not in answer.get_data(as_text=True).lower()


def test_the_moderation_answer_shows_the_email_decrypted(client, site, app):
    write_activity(client, site, app)
    answer = client.get(f"{BASE}/moderation?status=approved", headers=site.auth)
    assert answer.status_code == 200
    emails = {c["id"]: c["email"] for c in answer.get_json()["comments"]}
    assert EMAIL_AS_TYPED in emails.values()
    assert EMAIL in emails.values()
    assert None in emails.values()  # the author's own comment has none
    # The checker would have caught it anywhere else (it does look).
    with pytest.raises(AssertionError, match="e-mail"):
        assert_clean(answer_text(answer), forbidden([]), "the moderation answer")
    spam = client.get(f"{BASE}/moderation?status=spam", headers=site.auth).get_json()
    assert [c["email"] for c in spam["comments"]] == [EMAIL]


def test_webhook_rows_in_the_outbox_carry_no_email(client, site, app):
    from service.core.extensions import db
    from service.db.models import Notification

    tokens, _ = write_activity(client, site, app)
    with app.app_context():
        payloads = [n.payload for n in db.session.scalars(select(Notification))]
    assert any(p.get("event") == "comment.created" for p in payloads), payloads
    assert_clean(repr(payloads), forbidden(tokens), "the notification outbox")


def _sqlite_files(url: str) -> list[Path]:
    path = Path(unquote(urlsplit(url.replace("sqlite:///", "sqlite://localhost/")).path))
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _read_existing(paths: list[Path]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in paths if p.exists()}


def _pg_schema(url: str) -> str:
    match = re.search(r"csearch_path%3D(\w+)", url)
    assert match, url
    return match.group(1)


def _pg_dump(schema: str) -> str:
    parts = urlsplit(PG_URL.replace("postgresql+psycopg://", "postgresql://"))
    command = [
        "pg_dump",
        "--host",
        parts.hostname or "127.0.0.1",
        "--port",
        str(parts.port or 5432),
        "--username",
        parts.username or "postgres",
        "--schema",
        schema,
        "--no-owner",
        parts.path.lstrip("/") or "test",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "COPY" in done.stdout or "INSERT" in done.stdout
    return done.stdout


def _select_every_text_column(app: Any) -> str:
    from service.core.extensions import db

    chunks = []
    with app.app_context():
        inspector = inspect(db.engine)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                kind = column["type"]
                if isinstance(kind, String | Text) or "JSON" in type(kind).__name__.upper():
                    rows = db.session.execute(
                        text(f'SELECT CAST("{column["name"]}" AS TEXT) FROM "{table}"')
                    )
                    chunks.extend(str(value) for (value,) in rows)
    return "\n".join(chunks)


def test_a_copy_of_the_database_reveals_no_personal_data(client, site, app, database_url):
    from service.core.extensions import db

    tokens, _ = write_activity(client, site, app)
    needles = forbidden(tokens)
    # The data really is there (encrypted), so a clean dump means something.
    moderation = client.get(f"{BASE}/moderation?status=approved", headers=site.auth).get_json()
    assert EMAIL in {c["email"] for c in moderation["comments"]}

    if database_url.startswith("sqlite"):
        files = _sqlite_files(database_url)
        while_open = _read_existing(files)  # the WAL still holds the recent writes
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        after = _read_existing(files)
        assert files[0].stat().st_size > 0
        blobs = {**{f"{k} (open)": v for k, v in while_open.items()}, **after}
        assert any(b"Hello, I am a reader." in blob for blob in blobs.values())
        for name, blob in blobs.items():
            assert_clean(blob, needles, name)
    else:
        if has_command("pg_dump"):
            dump = _pg_dump(_pg_schema(database_url))
        else:
            dump = _select_every_text_column(app)
        assert "Hello, I am a reader." in dump
        assert_clean(dump, needles, "the PostgreSQL dump")
        assert_clean(_select_every_text_column(app), needles, "the PostgreSQL text columns")


def test_the_rate_limit_store_holds_no_client_address(client, site, app):
    from service.core.extensions import limiter

    write_activity(client, site, app)
    store = Path(app.instance_path) / "ratelimit.db"
    blobs = _read_existing([store, store.with_name("ratelimit.db-wal")])
    assert blobs, "the rate limit was counted in the instance folder's store"
    assert any(b"comment/" in blob for blob in blobs.values())
    limiter.limiter.storage.close()
    blobs.update(_read_existing([store]))
    for name, blob in blobs.items():
        assert_clean(blob, forbidden([]), name)
