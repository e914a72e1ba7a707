"""The spam filter's linear half (issue 19, ``docs/spam-research.md``), on SQLite and
PostgreSQL: its integer weights are exactly what the comments' stored steps say (learning,
un-learning and moving between classes leave nothing behind), confirmation is bounded and
never counts a comment twice, even with moderators in parallel, the migration from 0011
keeps a site's filter consistent, and through the API the filter learns from moderation
exactly as the research replay (``bench/spam_sim.py``) says it does."""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import SAMPLE_HAM as HAM
from support import SAMPLE_SPAM as SPAM

from service.spam import scoring

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}


def _post(client: Any, body: str, article: str = "/post/1", **fields: Any) -> dict[str, Any]:
    headers = fields.pop("headers", ORIGIN)
    answer = client.post(
        f"{BASE}/comments", json={"article": article, "body": body, **fields}, headers=headers
    )
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer.get_json()


def _moderate(client: Any, site: Any, comment_id: int, action: str) -> None:
    answer = client.post(
        f"{BASE}/comments/{comment_id}/moderate", json={"action": action}, headers=site.auth
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _weights(app: Any) -> dict[int, int]:
    """The feature rows' weights as stored (zeros left out)."""
    from service.core.extensions import db
    from service.db.models import SpamCount

    with app.app_context():
        rows = db.session.query(SpamCount.bucket, SpamCount.weight).all()
        db.session.remove()
    return {b: w for b, w in rows if w}


def _expected_weights(app: Any) -> dict[int, int]:
    """The weights the comments' stored steps add up to: per bucket, the sum over the
    comments that have one of ``bucket_units(step, their bucket count)``."""
    from service.core.extensions import db
    from service.db.models import Comment
    from service.spam.features import buckets
    from service.spam.model import features_of

    expected: dict[int, int] = {}
    with app.app_context():
        for comment in db.session.query(Comment).filter(Comment.spam_step.is_not(None)):
            found = buckets(features_of(comment))
            units = scoring.bucket_units(comment.spam_step, len(found))
            for b in found:
                expected[b] = expected.get(b, 0) + units
        db.session.remove()
    return {b: w for b, w in expected.items() if w}


def _steps(app: Any) -> dict[int, tuple[str | None, float | None]]:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        rows = db.session.query(Comment.id, Comment.spam_label, Comment.spam_step).all()
        db.session.remove()
    return {i: (label, step) for i, label, step in rows}


def _forget_all(app: Any, seed: int) -> list[tuple[int, int, int]]:
    """Make the filter forget every comment, one transaction each, in a shuffled order;
    every count row's (ham, spam, weight) afterwards."""
    from service.core.extensions import db
    from service.db.models import Comment, SpamCount
    from service.spam import model

    with app.app_context():
        comments = db.session.query(Comment).all()
        random.Random(seed).shuffle(comments)
        for comment in comments:
            model.learn(comment, None)
            db.session.commit()
        rows = db.session.query(SpamCount.ham, SpamCount.spam, SpamCount.weight).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def _train(client: Any, site: Any, ham: int, spam: int, seed: int = 1) -> list[int]:
    """Ham published, then spam posted and marked, interleaved: the ids of the ham."""
    rng = random.Random(seed)
    ham_ids = []
    for n in range(max(ham, spam)):
        if n < ham:
            posted = _post(client, rng.choice(HAM).format(n=n), author=rng.choice(["Ken", "佐藤"]))
            ham_ids.append(posted["comment"]["id"])
        if n < spam:
            posted = _post(client, rng.choice(SPAM).format(n=n), author=f"seo{n}")
            _moderate(client, site, posted["comment"]["id"], "spam")
    return ham_ids


# --- exactness --------------------------------------------------------------------------------


def test_learning_and_unlearning_leave_every_weight_exactly_zero(app, client, site):
    """Decisions, confirmations, relabels and edits, then every comment forgotten in a
    shuffled order: every count and every weight is exactly 0 again."""

    ham_ids = _train(client, site, ham=30, spam=25)
    posted = _post(client, "pelican harbour at dawn, with https://x.example.ru", author="a1")
    _moderate(client, site, posted["comment"]["id"], "spam")
    for action in ("restore", "spam", "approve", "delete", "restore"):
        _moderate(client, site, ham_ids[3], action)
    edited = _post(client, "zebrafish inventory notes", author="Ken")
    patch = client.patch(
        f"{BASE}/comments/{edited['comment']['id']}",
        json={"body": "walrus inventory notes"},
        headers={**ORIGIN, "X-Edit-Token": edited["edit_token"]},
    )
    assert patch.status_code == 200
    _moderate(client, site, _post(client, "one more", author="Mika")["comment"]["id"], "spam")
    weights = _weights(app)
    assert weights and weights == _expected_weights(app)
    steps = _steps(app)
    assert any(label == "ham" and step is not None for label, step in steps.values())
    rows = _forget_all(app, seed=3)
    assert rows and all(row == (0, 0, 0) for row in rows)
    assert all(step is None for _, step in _steps(app).values())


def test_moving_a_comment_back_and_forth_returns_its_weights_to_zero(app, client, site):
    _train(client, site, ham=5, spam=5)
    comment_id = _post(client, "pelican harbour", author="Ken")["comment"]["id"]
    for action in ("spam", "restore", "spam", "spam", "delete", "restore", "spam"):
        _moderate(client, site, comment_id, action)
        assert _weights(app) == _expected_weights(app)
    assert _steps(app)[comment_id][0] == "spam" and _steps(app)[comment_id][1] > 0
    from service.core.extensions import db
    from service.db.models import Comment
    from service.spam import model

    with app.app_context():
        model.learn(db.session.get(Comment, comment_id), None)
        db.session.commit()
        db.session.remove()
    # Forgotten: what is left is exactly what the other comments' steps put in.
    assert _steps(app)[comment_id] == (None, None)
    assert _weights(app) == _expected_weights(app)


@given(st.floats(-0.3, 0.3, allow_nan=False), st.integers(1, 400))
def test_a_steps_units_are_what_unlearning_takes_out(step: float, size: int) -> None:
    units = scoring.bucket_units(step, size)
    assert abs(units - step * scoring.FIXED_ONE / math.sqrt(size)) <= 0.5 + 1e-6
    weights = {b: units for b in range(size)}
    # The margin without its own step: what the other comments say (nothing here).
    assert scoring.margin(weights, list(range(size)), step) == pytest.approx(0.0, abs=1e-12)


def test_with_no_weights_the_hybrid_is_chi2_halved_in_logits() -> None:
    counts = scoring.Counts(30, 30, {1: (10.0, 0.0), 2: (0.0, 9.0)}, 30.0, 30.0, None, {})
    for wanted in ([1], [2], [1, 2], [3]):
        chi2 = scoring.chi2_score(counts, wanted)
        expected = 1.0 / (1.0 + math.exp(-scoring.logit(chi2) / 2))
        assert scoring.hybrid_score(counts, wanted) == pytest.approx(expected, abs=1e-12)


# --- confirmation -----------------------------------------------------------------------------


def test_a_moderation_confirms_older_published_comments_once_and_at_most_100(app, client, site):
    from service.spam.model import CONFIRM_LIMIT

    _train(client, site, ham=0, spam=3)
    published = [
        _post(client, HAM[n % len(HAM)].format(n=n), article=f"/post/{n % 3}")["comment"]["id"]
        for n in range(CONFIRM_LIMIT + 7)
    ]
    deleted = _post(client, "a published comment the author deletes")["comment"]["id"]
    _moderate(client, site, deleted, "delete")  # confirms the first 100, not itself
    steps = _steps(app)
    confirmed = [i for i in published if steps[i][1] is not None]
    assert confirmed == published[:CONFIRM_LIMIT]
    assert steps[deleted] == ("ham", None)  # deleted: never confirmed, its label kept
    assert all(steps[i][1] <= 0 for i in confirmed)  # learned as ham (0: it was already)
    # Five texts, repeated: after the first few of each, the rest are ham by a margin of 1.
    assert sum(steps[i][1] < 0 for i in confirmed) >= len(HAM)
    assert _weights(app) == _expected_weights(app)
    newer = _post(client, "published after the moderation")["comment"]["id"]
    spam = _post(client, SPAM[0].format(n=77), author="seo77")["comment"]["id"]
    before = {i: steps[i][1] for i in confirmed}
    _moderate(client, site, spam, "spam")
    steps = _steps(app)
    assert all(steps[i][1] is not None for i in published)  # the other 7 now
    assert {i: steps[i][1] for i in confirmed} == before  # never learned twice
    assert steps[newer][1] is not None
    assert steps[spam][0] == "spam" and steps[spam][1] > 0  # its own move, not a confirmation
    assert steps[deleted] == ("ham", None)
    assert _weights(app) == _expected_weights(app)
    # A comment published after the newest one moderated waits for the next moderation.
    later = _post(client, "published last")["comment"]["id"]
    _moderate(client, site, published[0], "approve")  # older: confirms nothing newer
    assert _steps(app)[later] == ("ham", None)


def test_moderators_in_parallel_confirm_each_comment_once(app, app_config, new_app, site):
    """Two apps on one database (two workers), four threads: moderations on many threads
    at once, while published comments wait to be confirmed; every comment ends with one
    step, and the weights are exactly the sum of the stored steps (PostgreSQL's row locks,
    SQLite's write gate)."""
    other = new_app(app_config)
    clients = [app.test_client(), other.test_client()]
    client = clients[0]
    _train(client, site, ham=0, spam=2)
    rounds = []
    for n in range(6):
        published = [
            _post(client, HAM[k % len(HAM)].format(n=f"{n}-{k}"), article=f"/p/{n}-{k % 4}")
            for k in range(30)
        ]
        spam = [
            _post(client, SPAM[k % len(SPAM)].format(n=f"{n}{k}"), article=f"/s/{n}-{k}")
            for k in range(8)
        ]
        rounds.append(([p["comment"]["id"] for p in published], spam))
        jobs = [(clients[k % 2], s["comment"]["id"]) for k, s in enumerate(spam)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda job: _moderate(job[0], site, job[1], "spam"), jobs))
    steps = _steps(app)
    for published, _ in rounds:
        assert all(steps[i][0] == "ham" and steps[i][1] is not None for i in published)
    assert _weights(app) == _expected_weights(app)


# --- through the API --------------------------------------------------------------------------


def test_the_filter_learns_from_the_moderation_api_and_shows_why(app, client, site):
    ham_ids = _train(client, site, ham=60, spam=30, seed=5)
    steps = _steps(app)
    # Each spam marked confirmed the ham published before it; the last 30 wait.
    assert all(steps[i][1] is not None and steps[i][1] <= 0 for i in ham_ids[:30])
    assert all(steps[i] == ("ham", None) for i in ham_ids[30:])
    from service.spam.features import bucket

    weights = _weights(app)
    assert weights.get(bucket("tld:ru"), 0) > 0 and weights.get(bucket("name:digits"), 0) > 0
    assert weights.get(bucket("w:clients"), 0) < 0
    held = _post(client, "Cheap replica bags at https://bags9.example.ru/ today", author="seo99")
    assert held["status"] == "pending"
    fine = _post(client, "Thanks, the pricing part was useful for our 12 clients.", author="Ken")
    assert fine["status"] == "approved"
    listed = client.get(f"{BASE}/moderation?status=spam&limit=1", headers=site.auth).get_json()
    [item] = listed["comments"]
    assert item["id"] == held["comment"]["id"] and item["spam_score"] > 0.9
    reasons = {f["feature"]: f for f in item["spam_features"]}
    assert reasons["tld:ru"]["spam_probability"] > 0.5 and reasons["tld:ru"]["weight"] > 0
    assert all(0 <= f["spam_probability"] <= 1 for f in item["spam_features"])
    # The admin's card: chi2's probability and the linear push, side by side.
    from test_admin import sign_in, text

    assert sign_in(client, site).status_code == 302
    page = text(client.get("/admin/moderation?status=spam"))
    tld = reasons["tld:ru"]
    shown = f"tld:ru ({tld['spam_probability']:.2f}, {tld['weight']:+.2f})"
    assert shown in page


def test_the_api_replays_the_research_simulation_exactly(app, client, site):
    """The first 400 comments of the YouTube collection's first two files, through the API
    as ``bench_spam.replay`` sends them (the first half moderated as labelled), against
    ``bench/spam_sim.py``'s replay of the recommended hybrid: the same comments held, and
    the same arrival scores to the last bit."""
    import spam_sim
    from bench_spam import DATA, read_corpus

    from service.core.extensions import db
    from service.db.models import Comment

    files = sorted((DATA / "youtube").glob("*.csv"))[:2]
    items = [item for path in files for item in read_corpus(path)][:400]
    variant = spam_sim.variants()["service"]
    simulated = spam_sim.Site(variant)
    prepared = spam_sim.prepare(items)
    half = len(items) // 2
    ids, expected = [], []
    for n, (item, ready) in enumerate(zip(items, prepared, strict=True)):
        answer = client.post(
            f"{BASE}/comments",
            json={"article": f"/post/{n % 7}", "body": item.body, "author": item.author},
            headers=ORIGIN,
        )
        sim_comment, sim_held = simulated.post(ready)
        assert (answer.status_code == 202) == sim_held, (n, item.body)
        ids.append(answer.get_json()["comment"]["id"])
        expected.append(sim_comment.arrival)
        if n < half and (item.spam or sim_held):
            action = "spam" if item.spam else "approve"
            _moderate(client, site, ids[-1], action)
            simulated.moderate(sim_comment, action)
    with app.app_context():
        stored = dict(db.session.query(Comment.id, Comment.spam_score).all())
        db.session.remove()
    assert [stored[i] for i in ids] == expected
    assert sum(e is not None for e in expected) > 350


# --- the migration ----------------------------------------------------------------------------


def _database_at_0011(texts: list[str], scores: list[float], labels: list[str | None]) -> int:
    """In the app context: the schema at 0011, a site, and these comments as 0011 stored
    them (no step column); the site's id. Commits."""
    from flask_migrate import upgrade

    from service import MIGRATIONS_DIR
    from service.core.extensions import db
    from service.db.models import Thread
    from service.sites.settings import SiteSettings, create_site

    upgrade(directory=MIGRATIONS_DIR, revision="0011_blocked_commenters")
    site, _ = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
    thread = Thread(site_id=site.id, article="/a/", approved_count=0)
    db.session.add(thread)
    db.session.flush()
    for body, score, label in zip(texts, scores, labels, strict=True):
        db.session.execute(
            db.text(
                "INSERT INTO comments (site_id, thread_id, depth, avatar, body_text,"
                " body_html, status, is_author, notify, likes, spam_score, spam_label,"
                " created_at) VALUES (:site_id, :thread_id, 1, :avatar, :body, :html,"
                " :status, false, false, 0, :score, :label, CURRENT_TIMESTAMP)"
            ),
            {
                "site_id": site.id,
                "thread_id": thread.id,
                "avatar": "a" * 16,
                "body": body,
                "html": f"<p>{body}</p>",
                "status": "spam" if label == "spam" else "approved",
                "score": score,
                "label": label,
            },
        )
    db.session.commit()
    return int(site.id)


def test_the_upgrade_from_0011_keeps_a_sites_filter_consistent(cli_app: Any) -> None:
    """A database at 0011 with learned comments: the upgrade adds the weights (0) and the
    steps (none), rewrites the arrival scores as the hybrid gives them with no weights and
    rebuilds the histogram from them; the next moderation confirms the published comments;
    the downgrade gives the chi2 scores back."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, select

    from service import MIGRATIONS_DIR
    from service.comments.moderation import moderate
    from service.core.extensions import db
    from service.db.models import Comment, SpamCount
    from service.spam.features import HAM_SCORES_BUCKET, buckets
    from service.spam.model import features_of

    texts = [f"comment number {n} about pricing" for n in range(8)]
    scores = [0.01, 0.02, 0.2, 0.7, 0.93, 0.999, 0.5, 0.0001]
    labels = ["ham", "good", "ham", "ham", "good", "spam", None, "ham"]

    def histogram(site_id: int) -> dict[int, int]:
        rows = db.session.execute(
            select(SpamCount.bucket, SpamCount.ham).where(
                SpamCount.site_id == site_id,
                SpamCount.bucket.between(HAM_SCORES_BUCKET - 80, HAM_SCORES_BUCKET + 80),
            )
        ).all()
        return {b - HAM_SCORES_BUCKET: n for b, n in rows if n}

    def binned(values: list[float]) -> dict[int, int]:
        found: dict[int, int] = {}
        for value in values:
            found[scoring.score_bin(value)] = found.get(scoring.score_bin(value), 0) + 1
        return found

    with cli_app.app_context():
        site_id = _database_at_0011(texts, scores, labels)
        old_histogram = binned(
            [s for s, lab in zip(scores, labels, strict=True) if lab in ("ham", "good")]
        )
        for b, n in old_histogram.items():
            db.session.execute(
                db.text(
                    "INSERT INTO spam_counts (site_id, bucket, ham, spam) VALUES (:s, :b, :n, 0)"
                ),
                {"s": site_id, "b": HAM_SCORES_BUCKET + b, "n": n},
            )
        db.session.execute(
            db.text("INSERT INTO spam_counts (site_id, bucket, ham, spam) VALUES (:s, 77, 3, 1)"),
            {"s": site_id},
        )
        db.session.commit()
        db.session.remove()

        # To 0013: 0014 recounts every feature row from the comments' texts (tested below).
        upgrade(directory=MIGRATIONS_DIR, revision="0013_partial_comment_indexes")
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("comments")}
        assert "ix_comments_unconfirmed" in indexes
        stored = db.session.execute(
            select(Comment.spam_score, Comment.spam_label, Comment.spam_step).order_by(Comment.id)
        ).all()
        hybrid = [1.0 / (1.0 + math.exp(-scoring.logit(s) / 2)) for s in scores]
        assert [s for s, _, _ in stored] == pytest.approx(hybrid, abs=1e-12)
        assert all(step is None for _, _, step in stored)
        learned = [h for h, lab in zip(hybrid, labels, strict=True) if lab in ("ham", "good")]
        assert histogram(site_id) == binned(learned)
        assert db.session.execute(
            select(SpamCount.ham, SpamCount.spam, SpamCount.weight).where(SpamCount.bucket == 77)
        ).one() == (3, 1, 0)
        # The first moderation after the upgrade confirms the published ham before it.
        newest = db.session.scalars(select(Comment).order_by(Comment.id.desc())).first()
        assert newest is not None and newest.spam_label == "ham"
        moderate(newest, "spam")
        steps = dict(db.session.execute(select(Comment.id, Comment.spam_step)).all())
        ids = db.session.scalars(select(Comment.id).order_by(Comment.id)).all()
        confirmed = [
            i for i, lab in zip(ids, labels, strict=True) if lab == "ham" and i != newest.id
        ]
        assert all(steps[i] is not None for i in confirmed)
        expected: dict[int, int] = {}
        for comment in db.session.scalars(select(Comment).where(Comment.spam_step.is_not(None))):
            found = buckets(features_of(comment))
            for b in found:
                expected[b] = expected.get(b, 0) + scoring.bucket_units(
                    comment.spam_step, len(found)
                )
        weights = dict(
            db.session.execute(
                select(SpamCount.bucket, SpamCount.weight).where(SpamCount.weight != 0)
            ).all()
        )
        assert weights and weights == {b: w for b, w in expected.items() if w}
        db.session.remove()

        downgrade(directory=MIGRATIONS_DIR, revision="0011_blocked_commenters")
        back = (
            db.session.execute(db.text("SELECT spam_score FROM comments ORDER BY id"))
            .scalars()
            .all()
        )
        assert back == pytest.approx(scores, rel=1e-9)
        labels_now = [*labels[:-1], "spam"]  # the last one was marked spam after the upgrade
        learned = [s for s, lab in zip(scores, labels_now, strict=True) if lab in ("ham", "good")]
        assert histogram(site_id) == binned(learned)
        db.session.remove()


def test_relearn_spam_teaches_the_decisions_made_before_the_upgrade_once(
    cli_app: Any, ranklet: Any
) -> None:
    from sqlalchemy import select

    from service.core.extensions import db
    from service.db.models import Comment
    from service.spam.features import buckets
    from service.spam.model import features_of

    texts = ["cheap pills at pills.example.ru", "thanks for the pricing notes", "a reply"] * 3
    labels: list[str | None] = ["spam", "good", "ham"] * 3
    with cli_app.app_context():
        _database_at_0011(texts, [0.5] * len(texts), labels)
        db.session.remove()
    first = ranklet("site", "relearn-spam", "blog")  # upgrades first, as data commands do
    assert first.exit_code == 0, first.output
    assert first.output == "Learned 6 past decisions of site 'blog'.\n"
    with cli_app.app_context():
        steps = db.session.execute(
            select(Comment.spam_label, Comment.spam_step).order_by(Comment.id)
        ).all()
        assert [label for label, _ in steps] == labels
        assert all(step is not None and step > 0 for label, step in steps if label == "spam")
        assert all(step is not None and step < 0 for label, step in steps if label == "good")
        assert all(step is None for label, step in steps if label == "ham")  # await confirmation
        expected: dict[int, int] = {}
        for comment in db.session.scalars(select(Comment).where(Comment.spam_step.is_not(None))):
            found = buckets(features_of(comment))
            for b in found:
                units = scoring.bucket_units(comment.spam_step, len(found))
                expected[b] = expected.get(b, 0) + units
        db.session.remove()
    weights = _weights(cli_app)
    assert weights and weights == {b: w for b, w in expected.items() if w}
    again = ranklet("site", "relearn-spam", "blog")
    assert again.output == "Learned 0 past decisions of site 'blog'.\n"
    assert _weights(cli_app) == weights


# --- the recount of migration 0014 (hosts written in the text) ----------------------------


def _feature_rows(app: Any) -> dict[int, tuple[int, int]]:
    """The feature rows' counts as stored (bucket >= 0, all-zero rows left out)."""
    from service.core.extensions import db
    from service.db.models import SpamCount

    with app.app_context():
        rows = db.session.query(SpamCount.bucket, SpamCount.ham, SpamCount.spam).all()
        db.session.remove()
    return {b: (h, s) for b, h, s in rows if b >= 0 and (h or s)}


def _expected_counts(app: Any, *, mentions: bool) -> dict[int, tuple[int, int]]:
    """The feature rows the comments' labels add up to with these features."""
    from service.core.extensions import db
    from service.db.models import Comment
    from service.spam.features import buckets, comment_features
    from service.spam.model import UNITS

    expected: dict[int, list[int]] = {}
    with app.app_context():
        for comment in db.session.query(Comment).filter(Comment.spam_label.is_not(None)):
            has_email = comment.email_encrypted is not None
            features = comment_features(
                comment.body_html, comment.author, comment.website, has_email, mentions=mentions
            )
            ham, spam = UNITS[comment.spam_label]
            for b in buckets(features):
                row = expected.setdefault(b, [0, 0])
                row[0] += ham
                row[1] += spam
        db.session.remove()
    return {b: (h, s) for b, (h, s) in expected.items() if h or s}


def _train_with_mentions(client: Any, site: Any) -> None:
    """Ham and spam, some of it naming hosts without links; decisions and confirmations."""
    ham_ids = _train(client, site, ham=25, spam=22)
    for n in range(6):
        posted = _post(client, f"get free codes at freecodes{n}.example.com now", author="x")
        _moderate(client, site, posted["comment"]["id"], "spam")
    _post(client, "I read the docs at python.org and it worked", author="Ken")
    _moderate(client, site, ham_ids[2], "spam")
    _moderate(client, site, ham_ids[2], "restore")


def test_hosts_written_without_a_link_are_features() -> None:
    from service.spam.features import comment_features, mentioned_hosts
    from service.spam.text import normalize

    assert mentioned_hosts("download it at movi5.com today") == ["movi5.com"]
    assert mentioned_hosts("see theseguys. com !!!") == ["theseguys.com"]
    assert mentioned_hosts(normalize("詳しくはexample.jpへ、または ｓｈｏｐ．ｅｘ．ｃｏｍ")) == [
        "example.jp",
        "shop.ex.com",
    ]
    assert mentioned_hosts("www.shop.example.co.jp/sale と bit.ly/x") == [
        "shop.example.co.jp",
        "bit.ly",
    ]
    for plain in (
        "version 3.5 is out",
        "e.g. this",
        "node.js rocks",
        "mail a@b.com",
        "great video. to be honest",
        "ok. me too",
        "5.com",
    ):
        assert mentioned_hosts(plain) == [], plain
    spam = comment_features("<p>ｗｗｗ.FreeCodes.ｃom 最高</p>", None, None, False)
    assert {"mention:yes", "host:freecodes.com", "dom:freecodes.com", "tld:com"} <= set(spam)
    ham = comment_features("<p>thanks</p>", None, None, False)
    assert "mention:no" in ham
    old = comment_features("<p>see movi5.com</p>", None, None, False, mentions=False)
    assert not any(f.startswith(("mention:", "host:", "dom:", "tld:")) for f in old)


@given(st.text(max_size=300) | st.text(alphabet="abcom.jp -@/1", max_size=60))
def test_mentioned_hosts_come_from_the_text(text: str) -> None:
    """Every host found is written in the text, and the quick pre-check never hides one."""
    import re

    from service.spam import features
    from service.spam.text import normalize

    normalized = normalize(text)
    found = features.mentioned_hosts(normalized)
    for host in found:
        labels = host.split(".")
        assert len(labels) >= 2 and all(labels)
        assert labels[0] in normalized and labels[-1] in normalized
    saved = features._MAYBE_HOST
    features._MAYBE_HOST = re.compile("")
    try:
        assert features.mentioned_hosts(normalized) == found
    finally:
        features._MAYBE_HOST = saved


def test_a_recount_keeps_the_counts_and_leaves_steps_exact(app, client, site):
    """Recounting with the features the comments were learned with changes no count, and
    learns the linear half again so that every stored step is what un-learning takes out:
    forgetting every comment afterwards leaves every row exactly 0."""
    from service.core.extensions import db
    from service.spam.recount import recount_all

    _train_with_mentions(client, site)
    counts = _feature_rows(app)
    assert counts == _expected_counts(app, mentions=True)
    with app.app_context():
        assert recount_all(db.session.connection()) > 50
        db.session.commit()
        db.session.remove()
    assert _feature_rows(app) == counts
    weights = _weights(app)
    assert weights and weights == _expected_weights(app)
    rows = _forget_all(app, seed=5)
    assert rows and all(row == (0, 0, 0) for row in rows)


def test_migration_0014_recounts_with_and_without_the_mentioned_hosts(cli_app: Any) -> None:
    """Down to 0013 the feature rows are what the features without the mentioned hosts
    give; up again, what the current ones give; the steps stay exact both ways, the
    histogram and the comment counts do not move, and the filter keeps scoring."""
    from flask_migrate import downgrade, upgrade

    from service import MIGRATIONS_DIR
    from service.core.extensions import db
    from service.db.models import SpamCount
    from service.sites.settings import SiteSettings, create_site
    from service.spam.features import bucket

    with cli_app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        _, token = create_site("blog", SiteSettings(origins=["https://blog.example.com"]))
        db.session.remove()
    client = cli_app.test_client()
    site = SimpleNamespace(auth={"Authorization": f"Bearer {token}"})
    _train_with_mentions(client, site)

    def others() -> list[tuple[int, int, int]]:
        with cli_app.app_context():
            rows = db.session.query(SpamCount.bucket, SpamCount.ham, SpamCount.spam)
            found = sorted(tuple(r) for r in rows.filter(SpamCount.bucket < 0))
            db.session.remove()
        return found

    before = others()
    with_mentions = _feature_rows(cli_app)
    assert bucket("mention:yes") in with_mentions and bucket("mention:no") in with_mentions
    with cli_app.app_context():
        downgrade(directory=MIGRATIONS_DIR, revision="0013_partial_comment_indexes")
        db.session.remove()
    assert _feature_rows(cli_app) == _expected_counts(cli_app, mentions=False)
    assert bucket("mention:no") not in _feature_rows(cli_app)
    assert others() == before
    with cli_app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        db.session.remove()
    assert _feature_rows(cli_app) == with_mentions
    assert others() == before
    weights = _weights(cli_app)
    assert weights and weights == _expected_weights(cli_app)
    held = client.post(
        f"{BASE}/comments",
        json={"article": "/post/1", "body": "free codes at freecodes9.example.com", "author": "x"},
        headers=ORIGIN,
    )
    assert held.status_code == 202
