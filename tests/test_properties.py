"""Property tests: position validation, and best/current after any records and deletions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import delete

from service.core.text_rules import BODY_MAX, BODY_PATTERN, MAX_POSITION, body_problem
from service.rankings.schemas import RecordPositions

# --- position validation ---------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.integers().map(str),
)
anything = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def accepted(value: Any) -> bool:
    """The rule of the contract: an integer from 1 to 1,000,000, and nothing else."""
    return type(value) is int and 1 <= value <= MAX_POSITION


def loads(value: Any) -> bool:
    try:
        result = RecordPositions().load({"positions": {"consulting": value}})
    except ValidationError as error:
        assert "consulting" in error.messages["positions"]
        return False
    assert result["positions"] == {"consulting": value}
    assert type(result["positions"]["consulting"]) is int
    return True


@settings(max_examples=300, deadline=None)
@given(anything)
def test_a_position_is_accepted_exactly_when_it_is_an_int_from_1_to_a_million(value):
    assert loads(value) == accepted(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-5, max_value=MAX_POSITION + 5) | st.integers())
def test_integers_are_accepted_exactly_in_range(value):
    assert loads(value) == (1 <= value <= MAX_POSITION)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1, max_value=MAX_POSITION).filter(lambda f: not math.isnan(f)))
def test_floats_are_rejected_even_when_whole(value):
    assert loads(value) is False
    assert loads(float(math.floor(value))) is False


@pytest.mark.parametrize("value", [True, False, None, "1", "4", 4.0, 1e6, "1e3", b"4"], ids=repr)
def test_lookalikes_are_rejected(value):
    assert loads(value) is False


# --- best and current against the real logic ---------------------------------------------------

CATEGORIES = ("consulting", "management", "marketing")
T0 = datetime(2024, 1, 1, tzinfo=UTC)

record_step = st.tuples(
    st.just("record"),
    st.dictionaries(st.sampled_from(CATEGORIES), st.integers(1, 50), min_size=1, max_size=3),
    st.integers(0, 30),  # minutes after T0: small, so the same instant recurs (replaces)
)
delete_step = st.tuples(st.just("delete"), st.sampled_from(CATEGORIES), st.integers(0, 1000))
steps = st.lists(st.one_of(record_step, record_step, delete_step), min_size=1, max_size=25)


@pytest.fixture(scope="module")
def logic_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One SQLite app for every example; the tables are emptied between examples."""
    folder: Path = tmp_path_factory.mktemp("properties")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RANKLET_INSTANCE_PATH", str(folder / "instance"))
        from service import create_app
        from service.core.extensions import db
        from service.sites.settings import SiteSettings, create_site

        application = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{folder / 'ranklet.db'}",
                "SECRET_KEY": "test-secret-key",
                "RATELIMIT_STORAGE_URI": "memory://",
                "COMMENT_RATE_LIMIT": "",
                "NOTIFY_WORKER": False,
            }
        )
        with application.app_context():
            db.create_all()
            create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
        yield application
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@settings(max_examples=50, deadline=None)
@given(steps)
def test_best_and_current_follow_any_records_and_deletions(logic_app, operations):
    from service.core.extensions import db
    from service.db.models import RankEntry
    from service.rankings import history as ranking
    from service.sites.settings import get_site

    with logic_app.app_context():
        db.session.execute(delete(RankEntry))
        db.session.commit()
        site = get_site("blog")
        # The model: per category, observation time -> position.
        model: dict[str, dict[datetime, int]] = {key: {} for key in CATEGORIES}
        for operation in operations:
            if operation[0] == "record":
                _, positions, minute = operation
                moment = T0 + timedelta(minutes=minute)
                ranking.record_positions(site, positions, moment)
                for key, position in positions.items():
                    model[key][moment] = position
            else:
                _, key, pick = operation
                category = ranking.get_category_or_404(site, key)
                stored = ranking.history(category, None, None, 1000)
                if not stored:
                    continue
                victim = stored[pick % len(stored)]
                ranking.delete_entry(category, victim.id)
                del model[key][victim.observed_at]

        standings = {s.category.key: s for s in ranking.standings(site)}
        for key in CATEGORIES:
            category = ranking.get_category_or_404(site, key)
            stored = ranking.history(category, None, None, 1000)
            expected = model[key]
            assert {e.observed_at: e.position for e in stored} == expected
            assert [e.observed_at for e in stored] == sorted(expected)
            standing = standings[key]
            assert standing.entries == len(expected)
            if not expected:
                assert standing.best is None
                assert standing.current is None
                continue
            lowest = min(e.position for e in stored)
            first = min(e.observed_at for e in stored if e.position == lowest)
            assert (standing.best.position, standing.best.observed_at) == (lowest, first)
            latest = max(expected)
            assert (standing.current.position, standing.current.observed_at) == (
                expected[latest],
                latest,
            )
        db.session.remove()


# --- the document's body pattern is the server's rule ----------------------------------------

# White space of every kind (str.strip's and \ufeff, which it keeps), controls, text.
_SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u3000"]
_body_chars = st.sampled_from([*_SPACES, "\ufeff", "\x00", "\x7f", "x", "あ", "\u202e"])


@settings(max_examples=400, deadline=None)
@given(
    st.text(_body_chars, max_size=4),
    st.integers(min_value=0, max_value=BODY_MAX + 2),
    st.text(_body_chars, max_size=4),
    st.text(_body_chars, max_size=4),
)
def test_body_pattern_accepts_what_the_server_accepts(head: str, run: int, middle: str, tail: str):
    """OpenAPI's ``pattern`` for a comment body (ECMA, and Python's ``re`` as schemathesis
    reads it) accepts exactly the bodies ``body_problem`` accepts, at the length limit too."""
    import re

    value = head + "x" * run + middle + tail
    expected = body_problem(value) is None
    assert bool(re.fullmatch(BODY_PATTERN, value)) == expected, (head, run, middle, tail)
