"""Contract §2: site tokens. 401 without a valid token, 403 for another site's."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import inspect, text

from service.core.crypto import new_token

BASE = "/api/v1/sites/blog"

# Every admin call of §3, each with a body that would succeed with the right token.
ADMIN_CALLS = [
    ("post", f"{BASE}/rankings", {"positions": {"consulting": 4}}),
    ("put", f"{BASE}/categories/seo", {"labels": {"ja": "SEO", "en": "SEO"}}),
    ("delete", f"{BASE}/categories/marketing", None),
    ("delete", f"{BASE}/rankings/consulting/history/{{entry}}", None),
]


def call(client: Any, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if body is None:
        return getattr(client, method)(url, headers=headers)
    return getattr(client, method)(url, json=body, headers=headers)


def seeded_entry(client: Any, site: Any) -> int:
    answer = client.post(
        f"{BASE}/rankings",
        json={"positions": {"consulting": 9}, "observed_at": "2024-01-01T00:00:00Z"},
        headers=site.auth,
    )
    assert answer.status_code == 200
    return client.get(f"{BASE}/rankings/consulting/history").get_json()["entries"][0]["id"]


def state(client: Any) -> Any:
    """What an admin call could change: the rankings document and the consulting history."""
    return (
        client.get(f"{BASE}/rankings").get_json(),
        client.get(f"{BASE}/rankings/consulting/history").get_json(),
    )


UNKNOWN_TOKEN = "rk_" + "A" * 43

BAD_HEADERS = {
    "missing": {},
    "empty": {"Authorization": ""},
    "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    "bearer without token": {"Authorization": "Bearer "},
    "not a token": {"Authorization": "Bearer hunter2"},
    "token without scheme": {"Authorization": UNKNOWN_TOKEN},
    "truncated": {"Authorization": "Bearer " + UNKNOWN_TOKEN[:-1]},
    "unknown token": {"Authorization": "Bearer " + UNKNOWN_TOKEN},
}


@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
@pytest.mark.parametrize(("method", "url", "body"), ADMIN_CALLS, ids=lambda v: str(v)[:30])
def test_no_valid_token_is_a_401_and_changes_nothing(client, site, headers, method, url, body):
    url = url.format(entry=seeded_entry(client, site))
    before = state(client)
    answer = call(client, method, url, body, headers)
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    error = answer.get_json()
    assert error["code"] == 401
    assert error["message"]
    assert state(client) == before


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_CALLS, ids=lambda v: str(v)[:30])
def test_another_sites_token_is_a_403_and_changes_nothing(
    client, site, make_site, method, url, body
):
    other = make_site("other")
    url = url.format(entry=seeded_entry(client, site))
    before = state(client)
    answer = call(client, method, url, body, other.auth)
    assert answer.status_code == 403, answer.get_data(as_text=True)
    assert answer.get_json()["code"] == 403
    assert answer.get_json()["message"] == "このトークンは別のサイトのものです。"
    assert state(client) == before


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_CALLS, ids=lambda v: str(v)[:30])
def test_the_sites_own_token_is_accepted(client, site, method, url, body):
    url = url.format(entry=seeded_entry(client, site))
    answer = call(client, method, url, body, site.auth)
    assert answer.status_code in (200, 201, 204), answer.get_data(as_text=True)


def test_the_scheme_is_case_insensitive(client, site):
    answer = client.post(
        f"{BASE}/rankings",
        json={"positions": {"consulting": 4}},
        headers={"Authorization": f"bearer {site.token}"},
    )
    assert answer.status_code == 200


def test_a_token_is_valid_for_its_own_site_only(client, site, make_site):
    other = make_site("other")
    answer = client.post(
        "/api/v1/sites/other/rankings", json={"positions": {"consulting": 1}}, headers=other.auth
    )
    assert answer.status_code == 200
    answer = client.post(
        "/api/v1/sites/other/rankings", json={"positions": {"consulting": 1}}, headers=site.auth
    )
    assert answer.status_code == 403


def test_public_reads_need_no_token(client, site):
    seeded_entry(client, site)
    assert client.get(f"{BASE}/rankings").status_code == 200
    assert client.get(f"{BASE}/rankings/consulting/history").status_code == 200
    assert client.get("/badge/blog/consulting.svg").status_code == 200
    # A wrong token on a public read is ignored, not an error.
    assert (
        client.get(f"{BASE}/rankings", headers=dict(BAD_HEADERS["unknown token"])).status_code
        == 200
    )


def test_rotating_the_token_invalidates_the_old_one_at_once(app, client, site):
    from service.sites.settings import get_site, rotate_token

    body = {"positions": {"consulting": 4}}
    assert client.post(f"{BASE}/rankings", json=body, headers=site.auth).status_code == 200
    with app.app_context():
        new = rotate_token(get_site("blog"))
    assert new != site.token
    old_answer = client.post(f"{BASE}/rankings", json=body, headers=site.auth)
    assert old_answer.status_code == 401
    assert old_answer.get_json()["message"]
    new_answer = client.post(
        f"{BASE}/rankings", json=body, headers={"Authorization": f"Bearer {new}"}
    )
    assert new_answer.status_code == 200
    assert new_answer.get_json()["site"] == "blog"


def _all_rows(app: Any) -> list[tuple[str, str]]:
    """Every value of every row of every table, as text."""
    from service.core.extensions import db

    found = []
    with app.app_context():
        for table in inspect(db.engine).get_table_names():
            for row in db.session.execute(text(f'SELECT * FROM "{table}"')):
                found.extend((table, str(value)) for value in row)
    return found


def test_tokens_are_stored_only_as_hashes(app, client, site, make_site):
    from service.sites.settings import get_site, rotate_token

    other = make_site("other")
    with app.app_context():
        rotated = rotate_token(get_site("other"))
    rows = _all_rows(app)
    assert any(table == "sites" for table, _ in rows)
    for token in (site.token, other.token, rotated):
        secret = token.removeprefix("rk_")
        assert not [table for table, value in rows if secret in value], "token stored in clear"
    from service.core.extensions import db

    with app.app_context():
        hashes = [row[0] for row in db.session.execute(text("SELECT token_hash FROM sites"))]
    assert len(hashes) == 2
    assert all(len(h) == 64 and h not in (site.token, rotated) for h in hashes)


def test_tokens_carry_at_least_128_random_bits(site):
    tokens = [site.token, *(new_token() for _ in range(200))]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert token.startswith("rk_")
        raw = base64.urlsafe_b64decode(token.removeprefix("rk_") + "=")
        assert len(raw) * 8 >= 128
    # Every position of the encoded part varies: no fixed or counter-like segment.
    body = [t.removeprefix("rk_") for t in tokens]
    for index in range(len(body[0])):
        assert len({b[index] for b in body}) > 8
