"""Contract §6 and §8: one JSON error shape, security headers, health, readiness, OpenAPI."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

BASE = "/api/v1/sites/blog"


def assert_error(answer: Any, status: int) -> dict[str, Any]:
    """The one error shape: JSON with code, status and a message, never a stack trace."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    text = answer.get_data(as_text=True)
    assert "Traceback" not in text
    assert 'File "' not in text
    body = json.loads(text)
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"].strip()
    return body


def assert_security_headers(answer: Any) -> None:
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp


# --- the error shape -----------------------------------------------------------------------------


def test_unknown_route_is_a_json_404(client):
    body = assert_error(client.get("/no/such/page"), 404)
    assert body["status"] == "Not Found"
    assert_error(client.get("/api/v1/nothing-here"), 404)


def test_unknown_site_is_a_json_404(client, site):
    body = assert_error(client.get("/api/v1/sites/nosuch/rankings"), 404)
    assert "nosuch" in body["message"]


def test_unknown_category_is_a_json_404(client, site):
    body = assert_error(client.get(f"{BASE}/rankings/nosuch/history"), 404)
    assert "nosuch" in body["message"]


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("delete", f"{BASE}/rankings", {"GET", "POST"}),
        ("patch", f"{BASE}/rankings", {"GET", "POST"}),
        ("post", f"{BASE}/rankings/consulting/history", {"GET"}),
        ("get", f"{BASE}/categories/seo", {"PUT", "DELETE"}),
        ("post", "/healthz", {"GET"}),
    ],
)
def test_wrong_method_is_a_json_405_with_allow(client, site, method, url, allowed):
    answer = getattr(client, method)(url)
    assert_error(answer, 405)
    listed = {m.strip() for m in answer.headers["Allow"].split(",")}
    assert allowed <= listed
    assert method.upper() not in listed


def test_body_over_64_kib_is_a_json_413(client, site):
    padding = "x" * (64 * 1024)
    body = json.dumps({"positions": {"consulting": 4}, "note": padding})
    answer = client.post(
        f"{BASE}/rankings", data=body, content_type="application/json", headers=site.auth
    )
    assert_error(answer, 413)
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["entries"] == 0


def test_body_just_under_the_limit_is_read(client, site):
    body = json.dumps({"positions": {"consulting": 4}, "note": "x" * (60 * 1024)})
    answer = client.post(
        f"{BASE}/rankings", data=body, content_type="application/json", headers=site.auth
    )
    # Read and validated (the unknown field is the complaint), not refused for its size.
    # (in the language of the test site, ja)
    assert assert_error(answer, 422)["errors"] == {"note": ["この項目は受け付けていません。"]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_that_is_not_json_is_a_415(client, site, content_type):
    answer = client.post(
        f"{BASE}/rankings",
        data='{"positions": {"consulting": 4}}',
        content_type=content_type,
        headers=site.auth,
    )
    body = assert_error(answer, 415)
    assert "JSON" in body["message"]
    assert client.get(f"{BASE}/rankings").get_json()["categories"][0]["entries"] == 0


@pytest.mark.parametrize("raw", ['{"positions": {"consulting": 4}', "{bad}", "nul\x00l", "\xff"])
def test_malformed_json_is_a_400(client, site, raw):
    answer = client.post(
        f"{BASE}/rankings",
        data=raw.encode("utf-8", "surrogateescape") if raw != "\xff" else b"\xff{",
        content_type="application/json",
        headers=site.auth,
    )
    body = assert_error(answer, 400)
    assert "JSON" in body["message"]


def test_an_unpaired_surrogate_is_malformed_json(client, site):
    escaped = '{"labels": {"ja": "a\\ud800", "en": "b"}}'
    answer = client.put(
        f"{BASE}/categories/seo", data=escaped, content_type="application/json", headers=site.auth
    )
    assert "JSON" in assert_error(answer, 400)["message"]
    # Nothing was stored, and the site's documents still render.
    assert client.get(f"{BASE}/rankings").status_code == 200
    assert client.get("/badge/blog/seo.svg").status_code == 404
    paired = '{"labels": {"ja": "\\ud83d\\ude00", "en": "b"}}'
    answer = client.put(
        f"{BASE}/categories/seo", data=paired, content_type="application/json", headers=site.auth
    )
    assert answer.status_code == 201
    assert answer.get_json()["labels"]["ja"] == "\U0001f600"


def test_validation_errors_map_fields_to_messages(client, site):
    answer = client.post(
        f"{BASE}/rankings",
        json={"positions": {"consulting": "4"}, "observed_at": "2024-01-01T00:00:00", "x": 1},
        headers=site.auth,
    )
    body = assert_error(answer, 422)
    errors = body["errors"]
    # Field names at the top, not webargs' location ("json") wrapper.
    assert set(errors) == {"positions", "observed_at", "x"}
    assert errors["observed_at"] and all(isinstance(m, str) for m in errors["observed_at"])
    assert errors["x"] == ["この項目は受け付けていません。"]
    assert errors["positions"]["consulting"]


def test_query_validation_errors_map_fields_to_messages(client, site):
    body = assert_error(client.get(f"{BASE}/rankings/consulting/history?limit=0"), 422)
    assert list(body["errors"]) == ["limit"]
    assert all(isinstance(m, str) for m in body["errors"]["limit"])


@pytest.fixture
def exploding_app(app: Any) -> Any:
    def explode() -> None:
        raise RuntimeError("secret detail: /etc/ranklet password=hunter2")

    app.add_url_rule("/api/v1/explode", "explode", explode, methods=["GET", "POST"])
    return app


def test_an_unexpected_exception_is_a_json_500_without_the_details(exploding_app, caplog):
    client = exploding_app.test_client()
    for answer in (client.get("/api/v1/explode"), client.post("/api/v1/explode", json={})):
        body = assert_error(answer, 500)
        text = answer.get_data(as_text=True)
        assert "secret detail" not in text
        assert "hunter2" not in text
        assert "RuntimeError" not in text
        assert set(body) == {"code", "status", "message"}
        assert_security_headers(answer)
    # The details go to the log instead, for the operator.
    assert "secret detail" in caplog.text


def test_the_app_still_works_after_a_500(exploding_app, site):
    client = exploding_app.test_client()
    assert_error(client.get("/api/v1/explode"), 500)
    answer = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": 4}}, headers=site.auth
    )
    assert answer.status_code == 200


# --- security headers ----------------------------------------------------------------------------


def test_api_answers_carry_the_security_headers(client, site):
    answers = [
        client.get(f"{BASE}/rankings"),
        client.get(f"{BASE}/rankings/consulting/history"),
        client.post(f"{BASE}/rankings", json={"positions": {"consulting": 4}}, headers=site.auth),
        client.get("/api/v1/sites/nosuch/rankings"),
        client.post(f"{BASE}/rankings", json={"positions": {}}, headers=site.auth),
        client.post(f"{BASE}/rankings", json={"positions": {"consulting": 4}}),
        client.delete(f"{BASE}/rankings"),
        client.get("/no/such/page"),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/api/v1/openapi.json"),
    ]
    for answer in answers:
        assert_security_headers(answer)


# --- health and readiness ------------------------------------------------------------------------


def test_healthz(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_readyz(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ready"}


@pytest.fixture(params=["sqlite-missing-directory", "postgres-nothing-listening"])
def unreachable_app(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """An app whose database cannot be reached at all."""
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    from service import create_app
    from service.core.extensions import db

    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'missing' / 'folder' / 'ranklet.db'}"
    else:
        port = request.getfixturevalue("refused_port")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_STORAGE_URI": "memory://",
            "COMMENT_RATE_LIMIT": "",
            "NOTIFY_WORKER": False,
        }
    )
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    body = assert_error(answer, 503)
    assert "database" in body["message"].lower()
    assert int(answer.headers["Retry-After"]) > 0


def test_api_calls_are_503_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    for answer in (
        client.get(f"{BASE}/rankings"),
        client.post(
            f"{BASE}/rankings",
            json={"positions": {"consulting": 4}},
            headers={"Authorization": "Bearer rk_" + "A" * 43},
        ),
    ):
        body = assert_error(answer, 503)
        assert "database" in body["message"].lower()
        assert int(answer.headers["Retry-After"]) > 0
        assert_security_headers(answer)
        # Neither the driver's message nor the URL leaks.
        text = answer.get_data(as_text=True)
        assert "sqlite" not in text.lower()
        assert "psycopg" not in text.lower()
        assert "127.0.0.1" not in text


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Path]]:
    monkeypatch.setenv("RANKLET_INSTANCE_PATH", str(tmp_path / "instance"))
    from service import create_app
    from service.core.extensions import db

    path = tmp_path / "locked.db"
    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{path}",
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_STORAGE_URI": "memory://",
            "COMMENT_RATE_LIMIT": "",
            "NOTIFY_WORKER": False,
        }
    )
    with application.app_context():

        @event.listens_for(db.engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            # Runs after the app's own connect hook: wait 0.2 s on a lock, not 5 s.
            dbapi_connection.execute("PRAGMA busy_timeout = 200")

        db.create_all()
    yield application, path
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_locked_sqlite_database_is_a_503_with_retry_after(sqlite_app):
    from service.sites.settings import SiteSettings, create_site

    application, path = sqlite_app
    with application.app_context():
        _, token = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
    client = application.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    body = {"positions": {"consulting": 4}, "observed_at": "2024-01-01T00:00:00Z"}

    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        answer = client.post(f"{BASE}/rankings", json=body, headers=auth)
        error = assert_error(answer, 503)
        assert "try again" in error["message"]
        assert int(answer.headers["Retry-After"]) > 0
        assert "locked" not in answer.get_data(as_text=True)
        # Readers are not blocked by a writer (WAL).
        read = client.get(f"{BASE}/rankings")
        assert read.status_code == 200
        assert read.get_json()["categories"][0]["entries"] == 0
    finally:
        holder.rollback()
        holder.close()

    answer = client.post(f"{BASE}/rankings", json=body, headers=auth)
    assert answer.status_code == 200
    assert answer.get_json()["categories"][0]["entries"] == 1


# --- OpenAPI -----------------------------------------------------------------------------------


def _api_routes(app: Any) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("/openapi.json"):
            continue
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        routes.setdefault(path, set()).update(methods)
    return routes


def test_openapi_documents_every_api_route(app, client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    document = answer.get_json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Ranklet"
    documented = {
        path: {m for m in operations if m in {"get", "post", "put", "patch", "delete"}}
        for path, operations in document["paths"].items()
    }
    routes = _api_routes(app)
    assert {
        "/api/v1/sites/{site}/rankings",
        "/api/v1/sites/{site}/rankings/{category}/history",
        "/api/v1/sites/{site}/rankings/{category}/history/{entry_id}",
        "/api/v1/sites/{site}/categories/{key}",
    } <= set(routes)
    assert documented == routes
    for path, operations in document["paths"].items():
        for method in documented[path]:
            assert operations[method].get("summary"), f"{method.upper()} {path} has no summary"


def test_openapi_describes_the_rankings_schemas(client):
    document = client.get("/api/v1/openapi.json").get_json()
    post = document["paths"]["/api/v1/sites/{site}/rankings"]["post"]
    assert "200" in post["responses"]
    assert "422" in post["responses"]
    schemas = document["components"]["schemas"]
    position = schemas["RecordPositions"]["properties"]["positions"]["additionalProperties"]
    assert (position["type"], position["minimum"], position["maximum"]) == ("integer", 1, 1_000_000)


# --- what the document promises (issue 10) -------------------------------------------------


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def test_openapi_lists_every_error_status_with_the_error_schema(client):
    document = client.get("/api/v1/openapi.json").get_json()
    error = {"$ref": "#/components/schemas/Error"}
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        needed = {"400", "404", "405", "422", "500", "503"}
        if method != "get" or path.endswith(("/moderation", "/spam-rules", "/blocks")):
            needed |= {"401", "403"}
        if method != "get":
            needed |= {"413", "415"}
        assert needed <= set(responses), f"{method.upper()} {path}: {sorted(responses)}"
        for status in needed:
            response = responses[status]
            if "$ref" in response:  # a shared response of components/responses
                response = document["components"]["responses"][response["$ref"].split("/")[-1]]
            content = response["content"]["application/json"]["schema"]
            assert content == error, (method, path, status)
    post = document["paths"]["/api/v1/sites/{site}/comments"]["post"]["responses"]
    assert "429" in post
    assert set(post["201"]["links"]) == {"LikeComment", "ModerateComment"}


def test_openapi_lists_the_auth_errors_every_read_answers(client, make_site):
    """A read that needs the site token says so: the 401 without one and the 403 with
    another site's are in its responses (GET spam-rules and blocks once lacked both)."""
    make_site("blog")
    other = make_site("other")
    document = client.get("/api/v1/openapi.json").get_json()
    checked = set()
    for method, path, operation in _operations(document):
        if method != "get":
            continue
        values = {"site": "blog", "category": "consulting"}
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        required = [p["name"] for p in operation.get("parameters", []) if p.get("required")]
        query = {name: "/a" for name in required if name == "article"}
        assert set(required) <= set(query), (path, required)
        for headers, status in (({}, 401), (other.auth, 403)):
            answer = client.get(url, query_string=query, headers=headers)
            if answer.status_code == status:
                assert_error(answer, status)
                assert str(status) in operation["responses"], f"GET {path} answers {status}"
                checked.add(path)
    assert {
        "/api/v1/sites/{site}/moderation",
        "/api/v1/sites/{site}/spam-rules",
        "/api/v1/sites/{site}/blocks",
    } <= checked


def test_openapi_promises_no_more_than_is_accepted(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert schemas["RecordPositions"]["properties"]["positions"]["minProperties"] == 1
    comment = schemas["CommentInput"]["properties"]
    assert comment["parent_id"]["maximum"] == 2**31 - 1
    assert comment["notify"]["type"] == "boolean"
    assert comment["email"]["maxLength"] == 254
    labels = schemas["Labels"]["properties"]
    assert labels["ja"]["maxLength"] == 100 and "pattern" in labels["ja"]
    query = document["paths"]["/api/v1/sites/{site}/comments"]["get"]["parameters"]
    cursor = next(p for p in query if p["name"] == "cursor")["schema"]
    assert cursor["pattern"] == "^[A-Za-z0-9_-]{1,512}$"
    moderation = document["paths"]["/api/v1/sites/{site}/moderation"]["get"]["parameters"]
    cursor = next(p for p in moderation if p["name"] == "cursor")["schema"]
    assert (cursor["type"], cursor["minimum"], cursor["maximum"]) == ("integer", 1, 2**31 - 1)
    ids = document["paths"]["/api/v1/sites/{site}/comments/{comment_id}"]["parameters"]
    assert next(p for p in ids if p["name"] == "comment_id")["schema"]["maximum"] == 2**31 - 1


def test_positions_may_not_be_empty(client, make_site):
    site = make_site("blog", lang="en")
    answer = client.post(
        f"{BASE}/rankings",
        json={"positions": {}},
        headers={"Authorization": f"Bearer {site.token}"},
    )
    body = assert_error(answer, 422)
    assert body["errors"] == {"positions": ["Give at least one category's position."]}


def test_positions_may_not_be_empty_in_japanese(client, make_site):
    site = make_site("jablog", lang="ja")
    answer = client.post(
        "/api/v1/sites/jablog/rankings",
        json={"positions": {}},
        headers={"Authorization": f"Bearer {site.token}"},
    )
    body = assert_error(answer, 422)
    assert body["errors"] == {"positions": ["少なくとも1つのカテゴリの順位を指定してください。"]}
