"""The learning filter's learned threshold (issue 19), on SQLite and PostgreSQL: the
histogram of learned ham arrival scores moves with every label exactly, the threshold in
force follows the site's mode (``auto`` or a fixed number) through the API, the CLI and the
admin, and the migration fills the histogram from comments learned before it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import SAMPLE_HAM as HAM
from support import SAMPLE_SPAM as SPAM

from service.spam import scoring

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}


def _post(client: Any, body: str, **fields: Any) -> Any:
    headers = fields.pop("headers", ORIGIN)
    answer = client.post(
        f"{BASE}/comments", json={"article": "/post/1", "body": body, **fields}, headers=headers
    )
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer


def _moderate(client: Any, site: Any, comment_id: int, action: str) -> None:
    answer = client.post(
        f"{BASE}/comments/{comment_id}/moderate", json={"action": action}, headers=site.auth
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _rules(client: Any, site: Any) -> dict[str, Any]:
    answer = client.get(f"{BASE}/spam-rules", headers=site.auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def _put_threshold(client: Any, site: Any, value: Any) -> Any:
    return client.put(
        f"{BASE}/spam-rules",
        json={"words": [], "patterns": [], "threshold": value},
        headers=site.auth,
    )


def _train(client: Any, site: Any, ham: int, spam: int) -> list[int]:
    """One spam first, then ham (each scored on arrival but the first: the filter has seen
    no ham yet), then the rest of the spam; the ham comments' ids."""
    first = _post(client, SPAM[0].format(n=1000), author="seo", website="https://x.example.ru")
    _moderate(client, site, first.get_json()["comment"]["id"], "spam")
    ham_ids = []
    for n in range(ham):
        posted = _post(client, HAM[n % len(HAM)].format(n=n), author="Ken")
        assert posted.status_code == 201
        ham_ids.append(posted.get_json()["comment"]["id"])
    for n in range(spam - 1):
        posted = _post(client, SPAM[n % len(SPAM)].format(n=n), author=f"seo{n}")
        _moderate(client, site, posted.get_json()["comment"]["id"], "spam")
    return ham_ids


def _histogram(app: Any) -> dict[int, int]:
    from service.core.extensions import db
    from service.db.models import SpamCount
    from service.spam.features import HAM_SCORES_BUCKET

    low, high = HAM_SCORES_BUCKET - scoring.SCORE_LIMIT, HAM_SCORES_BUCKET + scoring.SCORE_LIMIT
    with app.app_context():
        rows = db.session.query(SpamCount).filter(SpamCount.bucket.between(low, high)).all()
        return {r.bucket - HAM_SCORES_BUCKET: r.ham for r in rows if r.ham}


def _learned_ham_scores(app: Any) -> list[float]:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        rows = db.session.query(Comment.spam_score).filter(
            Comment.spam_label.in_(("ham", "good")), Comment.spam_score.is_not(None)
        )
        return [score for (score,) in rows]


def _expected_histogram(scores: list[float]) -> dict[int, int]:
    expected: dict[int, int] = {}
    for score in scores:
        expected[scoring.score_bin(score)] = expected.get(scoring.score_bin(score), 0) + 1
    return expected


def test_the_histogram_is_the_learned_hams_arrival_scores_exactly(app, client, site):
    ham_ids = _train(client, site, ham=scoring.MIN_HAM_SCORES, spam=3)
    assert _histogram(app) == _expected_histogram(_learned_ham_scores(app))
    assert sum(_histogram(app).values()) == scoring.MIN_HAM_SCORES - 1
    rules = _rules(client, site)
    assert rules["threshold"] == "auto" and rules["learned_threshold"] is None
    assert rules["threshold_in_force"] == 0.95  # the fixed one until 50 are known
    # The 50th scored ham: the threshold is learned, from exactly these scores.
    _post(client, "One more thought on the pricing section, thanks.", author="Mika")
    rules = _rules(client, site)
    expected = scoring.learned_threshold(_expected_histogram(_learned_ham_scores(app)))
    assert expected is not None
    assert rules["learned_threshold"] == pytest.approx(expected, abs=1e-6)
    assert rules["threshold_in_force"] == pytest.approx(expected)
    # Marking a ham as spam takes its score out; restoring it puts it back (label good).
    _moderate(client, site, ham_ids[1], "spam")
    assert sum(_histogram(app).values()) == scoring.MIN_HAM_SCORES - 1
    assert _histogram(app) == _expected_histogram(_learned_ham_scores(app))
    _moderate(client, site, ham_ids[1], "restore")
    assert sum(_histogram(app).values()) == scoring.MIN_HAM_SCORES
    # Deleting a comment teaches nothing either way: its score stays.
    _moderate(client, site, ham_ids[2], "delete")
    assert _histogram(app) == _expected_histogram(_learned_ham_scores(app))


def test_auto_holds_above_the_learned_threshold_fixed_above_the_number(app, client, site):
    _train(client, site, ham=scoring.MIN_HAM_SCORES + 10, spam=25)
    rules = _rules(client, site)
    learned = rules["learned_threshold"]
    assert learned is not None and learned < 1.0
    spam = "Cheap replica watches, best prices at https://watch-shop.example.ru/"
    held = _post(client, spam, author="seo99")
    assert held.status_code == 202 and held.get_json()["status"] == "pending"
    # A fixed threshold of 1 holds nothing by score; the same text is published.
    assert _put_threshold(client, site, 1.0).status_code == 200
    rules = _rules(client, site)
    assert (rules["threshold"], rules["threshold_in_force"]) == (1.0, 1.0)
    assert rules["learned_threshold"] == pytest.approx(learned)  # still known, not used
    published = _post(client, spam.replace("shop", "store"), author="seo98")
    assert published.status_code == 201
    # The author marks it: published, it was learned as ham with its arrival score, and
    # with 61 ham known the learned threshold would sit above it (chi2's score saturated
    # at exactly 1.0, above every bin's edge; the hybrid's does not).
    _moderate(client, site, published.get_json()["comment"]["id"], "spam")
    # Back to auto: held again.
    assert _put_threshold(client, site, "auto").status_code == 200
    assert _rules(client, site)["threshold"] == "auto"
    again = _post(client, spam.replace("shop", "mall"), author="seo97")
    assert again.status_code == 202


@pytest.mark.parametrize("value", ["0.9", "Auto", True, 1.5, 0.49, None, [], {"auto": 1}])
def test_the_api_refuses_a_threshold_that_is_neither_auto_nor_a_number_in_range(
    client, site, value
):
    answer = _put_threshold(client, site, value)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert "threshold" in str(answer.get_json()["errors"])
    assert _rules(client, site)["threshold"] == "auto"  # nothing changed


def test_the_cli_and_the_admin_set_auto_or_a_number(ranklet, cli_app):
    from service.sites.settings import get_site

    made = ranklet("site", "create", "cli", "--origin", "https://b.example.com")
    assert made.exit_code == 0, made.output
    with cli_app.app_context():
        assert get_site("cli").spam_threshold_auto is True
    assert ranklet("site", "update", "cli", "--spam-threshold", "0.97").exit_code == 0
    with cli_app.app_context():
        site = get_site("cli")
        assert (site.spam_threshold_auto, site.spam_threshold) == (False, 0.97)
    assert ranklet("site", "update", "cli", "--spam-threshold", "auto").exit_code == 0
    with cli_app.app_context():
        site = get_site("cli")
        assert (site.spam_threshold_auto, site.spam_threshold) == (True, 0.97)
    refused = ranklet("site", "update", "cli", "--spam-threshold", "often")
    assert refused.exit_code != 0 and "neither auto nor a number" in refused.output
    assert "auto" in ranklet("site", "update", "--help").output


@given(st.dictionaries(st.integers(-80, 80), st.integers(0, 400), max_size=60))
def test_at_most_the_hold_rate_of_ham_scored_above_the_learned_threshold(
    histogram: dict[int, int],
) -> None:
    threshold = scoring.learned_threshold(histogram)
    total = sum(histogram.values())
    if total < scoring.MIN_HAM_SCORES:
        assert threshold is None
        return
    assert threshold is not None and scoring.FLOOR <= threshold < 1.0
    above = sum(n for b, n in histogram.items() if scoring.bin_top(b) > threshold + 1e-12)
    assert above <= math.floor(total * scoring.HOLD_RATE)
    if threshold > scoring.FLOOR:  # and the threshold is as low as that allows
        lower_bins = [b for b in histogram if histogram[b] and scoring.bin_top(b) <= threshold]
        top_bin = max(lower_bins)
        assert above + histogram[top_bin] > math.floor(total * scoring.HOLD_RATE)


@given(st.floats(0.0, 1.0))
def test_a_score_lies_in_its_bin(score: float) -> None:
    b = scoring.score_bin(score)
    assert -scoring.SCORE_LIMIT <= b <= scoring.SCORE_LIMIT
    if -scoring.SCORE_LIMIT < b < scoring.SCORE_LIMIT:
        assert scoring.bin_top(b - 1) <= score <= scoring.bin_top(b) + 1e-12


def test_the_migration_fills_the_histogram_and_keeps_a_chosen_threshold(cli_app: Any) -> None:
    """Comments learned before the histogram existed are counted by the upgrade; a site on
    the old default becomes auto, a site whose author chose a threshold keeps it fixed."""
    from flask_migrate import downgrade, upgrade

    from service import MIGRATIONS_DIR
    from service.core.extensions import db
    from service.db.models import Comment, Site, Thread
    from service.sites.settings import SiteSettings, create_site

    scores = [0.01, 0.02, 0.2, 0.7, 0.93, 0.999, 0.5, 0.0001]
    labels = ["ham", "good", "ham", "ham", "good", "spam", None, "ham"]
    with cli_app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        site, _ = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
        chosen, _ = create_site("chosen", SiteSettings(origins=["https://c.example.com"]))
        chosen.spam_threshold = 0.9
        thread = Thread(site_id=site.id, article="/a/", approved_count=0)
        db.session.add(thread)
        db.session.flush()
        for n, (score, label) in enumerate(zip(scores, labels, strict=True)):
            db.session.add(
                Comment(
                    site_id=site.id,
                    thread_id=thread.id,
                    depth=1,
                    avatar="a" * 16,
                    body_text=f"c{n}",
                    body_html=f"<p>c{n}</p>",
                    status="spam" if label == "spam" else "approved",
                    spam_score=score,
                    spam_label=label,
                )
            )
        db.session.commit()
        db.session.remove()
        downgrade(directory=MIGRATIONS_DIR, revision="0009_author_tools")
        upgrade(directory=MIGRATIONS_DIR)
        learned = [s for s, label in zip(scores, labels, strict=True) if label in ("ham", "good")]
        assert _histogram(cli_app) == _expected_histogram(learned)
        modes = {s.slug: (s.spam_threshold_auto, s.spam_threshold) for s in Site.query.all()}
        assert modes == {"blog": (True, 0.95), "chosen": (False, 0.9)}
