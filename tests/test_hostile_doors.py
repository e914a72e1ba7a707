"""Issue 10, the rest of each family, found by searching (``test_fuzz_edges``, the import
field fuzzer) rather than listed in the issue; each one a regression test here.

- Redirects from the request's ``Host`` (family 6): werkzeug's slash redirect failed to be
  built at all for a ``Host`` with a port beyond 65535 (a 500), and was absolute for an
  empty or odd one. It is now made relative before any view runs.
- URLs with bidirectional controls (family 7): the one URL rule refused control characters
  but let U+202E through in a category's ``url`` (API and import), a comment's ``website``
  from an import, and promised them in the OpenAPI patterns.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service.core.text_rules import LINK_URL_RE, link_problem

BASE = "/api/v1/sites/blog"
BIDI = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"]


def raw_get(app: Any, path: str, host: str | None, query: str = "") -> tuple[str, Any, bytes]:
    environ = EnvironBuilder(path=path, query_string=query).get_environ()
    if host is None:
        environ.pop("HTTP_HOST", None)
    else:
        environ["HTTP_HOST"] = host
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    return status, headers, b"".join(body)


@pytest.mark.parametrize(
    "host", ["x:99999999", "x:65536", "x:-1", "x:", "", None, "[::1", "a b", "evil.example"]
)
@pytest.mark.parametrize(
    ("path", "query", "location"),
    [
        ("/admin", "", "/admin/"),
        ("/demo/blog", "", "/demo/blog/"),
        ("/demo/blog", "a=1&b=%ff", "/demo/blog/?a=1&b=%ff"),
    ],
)
def test_slash_redirects_are_relative_whatever_the_host(app, site, host, path, query, location):
    status, headers, body = raw_get(app, path, host, query)
    assert status.startswith("308"), (status, body[:300])
    assert headers["Location"] == location
    assert headers["X-Request-Id"]
    assert b"evil" not in body and b"99999999" not in body


@pytest.mark.parametrize("mark", BIDI)
def test_a_category_url_takes_no_bidi_controls(client, site, mark):
    answer = client.put(
        f"{BASE}/categories/seo",
        json={"labels": {"ja": "検索", "en": "SEO"}, "url": f"https://blog.example.com/{mark}x"},
        headers=site.auth,
    )
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert set(answer.get_json()["errors"]) == {"url"}


@pytest.mark.parametrize("mark", BIDI)
def test_comment_links_take_no_bidi_controls(client, site, mark):
    answer = client.post(
        f"{BASE}/comments",
        json={
            "article": "/a",
            "body": "x",
            "website": f"https://r.example/{mark}",
            "article_url": f"https://blog.example.com/a{mark}",
        },
        headers={"Origin": "https://blog.example.com"},
    )
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]) == {"website", "article_url"}


def test_the_documents_url_pattern_is_the_rule(client):
    """What the OpenAPI document promises for a URL is what the API accepts: a URL with a
    bidi control matches no URL pattern in it (schemathesis would send one otherwise)."""
    document = client.get("/api/v1/openapi.json").get_json()
    found = [
        schema["pattern"]
        for schema in _walk(document)
        if isinstance(schema, dict) and str(schema.get("pattern", "")).startswith("^https?")
    ]
    assert len(found) >= 3 and set(found) == {LINK_URL_RE}, found
    for mark in BIDI:
        value = f"https://blog.example.com/{mark}"
        assert re.fullmatch(LINK_URL_RE, value) is None
        assert link_problem(value) is not None
    assert re.fullmatch(LINK_URL_RE, "https://blog.example.com/記事?a=1#x")


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


# --- the CLI door: positions as on the admin page -------------------------------------------


@pytest.mark.parametrize("position", ["٣", "३", "9" * 5000, "+3", "3\x00"])
def test_rank_set_takes_no_other_scripts_digits_nor_giant_numbers(ranklet, cli_app, position):
    from test_transfer import make_site, rows

    make_site(ranklet, "blog")
    before = rows(cli_app)
    result = ranklet("rank", "set", "blog", "consulting", position)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Position must be a whole number from 1 to 1,000,000")
    assert len(result.stderr) < 200  # a 5,000-digit argument is not echoed whole
    assert rows(cli_app) == before


def test_rank_set_takes_fullwidth_digits_as_the_admin_page_does(ranklet, cli_app):
    from test_transfer import make_site

    make_site(ranklet, "blog")
    result = ranklet("rank", "set", "blog", "consulting", "１２")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("consulting: 12 recorded")


# --- files answered compressed close their file (found by the long fuzz run) ---------------


@pytest.mark.parametrize("encoding", ["br", "gzip", None])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["admin.css", "demo.css"])
def test_a_compressed_stylesheet_closes_its_file(app, encoding, method, name):
    """Flask-Compress streamed a brotli answer of a file and dropped the file's close:
    each one left an open file behind until the cyclic garbage collector ran."""
    import gc
    import gzip
    import warnings
    from pathlib import Path

    import brotli

    import service

    raw = (Path(service.__file__).parent / "static" / name).read_bytes()
    environ = EnvironBuilder(path=f"/static/{name}", method=method).get_environ()
    if encoding:
        environ["HTTP_ACCEPT_ENCODING"] = encoding
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        body, status, headers = run_wsgi_app(app, environ, buffered=True)
        data = b"".join(body)
        del body
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
    assert status.startswith("200")
    assert headers.get("Content-Encoding") == encoding
    if method == "GET":
        decode = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[encoding]
        assert decode(data) == raw
        assert int(headers["Content-Length"]) == len(data)
