"""The learning filter's model in the database: reading the counts a comment needs, scoring
it, and learning from the author's decisions in the transaction that records them.

Every change is ``INSERT ... ON CONFLICT DO UPDATE SET n = n + d`` in ascending bucket order:
no worker reads a count to write it back (no lost update under PostgreSQL's READ COMMITTED),
and two transactions lock shared rows in one order (no deadlock). Each comment keeps the
class it was learned as (``spam_label``), so moving it between classes un-learns the old
one, and a conditional UPDATE of that label lets only one of two racing moderators count.

Weights: the contract counts every published comment as ham, but nobody looked at most of
them, and spam that slipped through is published too, so it would teach the filter that
spam is ham and let more of it through. Ham learned from publication alone (label ``ham``)
therefore counts half as much as a decision the author made: a comment approved or restored
(label ``good``) or marked spam (``spam``). The feature rows hold integer units (1 for
``ham``, 2 for ``good`` and ``spam``) so that every update stays an exact atomic addition;
row ``DOCS_BUCKET`` counts comments (what the API reports, and the 20 of each before the
filter holds anything), row ``UNITS_BUCKET`` the units the feature rows are divided by.
Rows from ``HAM_SCORES_BUCKET`` count learned ham comments (``ham`` and ``good``) by the
score they got on arrival (``Comment.spam_score``), one per comment, moved with the label:
the histogram the site's learned threshold is read from (``scoring.learned_threshold``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm.attributes import set_committed_value

from service.core.extensions import db
from service.db.models import Comment
from service.spam import scoring
from service.spam.features import (
    DOCS_BUCKET,
    HAM_SCORES_BUCKET,
    UNITS_BUCKET,
    bucket,
    buckets,
    comment_features,
)

LABELS = ("ham", "good", "spam")
# Units per comment in the feature rows: (ham, spam) added for a comment of each label.
UNITS = {"ham": (1, 0), "good": (2, 0), "spam": (0, 2)}
UNIT = 2  # units of one comment the author decided on
# Which combining the filter uses; "bayes" only for the benchmark's comparison.
METHOD = os.environ.get("RANKLET_SPAM_METHOD", "chi2")

# One fixed statement per database, the buckets passed as one JSON or array parameter: an
# expanding IN would be compiled again for every count of buckets (most of the cost).
# The histogram's rows come with every read: a second range of the primary key in the same
# statement (UNION ALL: an OR of the two would make SQLite scan the site's rows).
_COUNTS = {
    "sqlite": text(
        "SELECT bucket, ham, spam FROM spam_counts WHERE site_id = :site_id"
        " AND bucket IN (SELECT value FROM json_each(:buckets))"
        " UNION ALL SELECT bucket, ham, spam FROM spam_counts WHERE site_id = :site_id"
        " AND bucket BETWEEN :lowest AND :highest"
    ),
    "postgresql": text(
        "SELECT bucket, ham, spam FROM spam_counts WHERE site_id = :site_id"
        " AND bucket = ANY(CAST(:buckets AS integer[]))"
        " UNION ALL SELECT bucket, ham, spam FROM spam_counts WHERE site_id = :site_id"
        " AND bucket BETWEEN :lowest AND :highest"
    ),
}
_LOWEST = HAM_SCORES_BUCKET - scoring.SCORE_LIMIT
_HIGHEST = HAM_SCORES_BUCKET + scoring.SCORE_LIMIT
# Every bump is one statement whatever the number of rows: the rows go as one JSON or
# array parameter (an executemany costs the driver's and SQLAlchemy's work once per row,
# about a hundred for a comment). Rows are inserted in ascending bucket order, the one lock
# order of every update; a statement never names one bucket twice.
_BUMP = {
    # ``WHERE true``: SQLite's parser needs it before ON CONFLICT after a SELECT. (The
    # array's order is the order of the rows; SQLite's writers take turns anyway.)
    # The feature rows all move by the same (ham, spam), so they go as a plain array of
    # buckets with the two deltas as parameters; only the few counting rows (documents,
    # units, the histogram) go as [bucket, ham, spam] triples. Three json_extract calls per
    # row were most of the statement's cost: 247 against 130 µs for 100 rows.
    "sqlite": text(
        "INSERT INTO spam_counts (site_id, bucket, ham, spam)"
        " SELECT :site_id, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]') FROM json_each(:rows)"
        " UNION ALL SELECT :site_id, value, :ham, :spam FROM json_each(:buckets) WHERE true"
        " ON CONFLICT (site_id, bucket) DO UPDATE"
        " SET ham = spam_counts.ham + excluded.ham, spam = spam_counts.spam + excluded.spam"
    ),
    "postgresql": text(
        "INSERT INTO spam_counts (site_id, bucket, ham, spam)"
        " SELECT :site_id, b, h, s FROM unnest(CAST(:buckets AS integer[]),"
        " CAST(:hams AS integer[]), CAST(:spams AS integer[])) AS t(b, h, s) ORDER BY b"
        " ON CONFLICT (site_id, bucket) DO UPDATE"
        " SET ham = spam_counts.ham + excluded.ham, spam = spam_counts.spam + excluded.spam"
    ),
}


def _int_array(numbers: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,-2}``), for ``CAST(... AS integer[])``:
    the driver would check every element of a list on its own (a regular expression each)."""
    return "{" + ",".join(map(str, numbers)) + "}"


def features_of(comment: Comment) -> list[str]:
    return comment_features(
        comment.body_html, comment.author, comment.website, comment.email_encrypted is not None
    )


def load_counts(site_id: int, wanted: Sequence[int]) -> scoring.Counts:
    """The document totals and the counts of these buckets, in one indexed query."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    keys = [UNITS_BUCKET, DOCS_BUCKET, *wanted]
    parameter = json.dumps(keys) if dialect == "sqlite" else _int_array(keys)
    values = {"site_id": site_id, "buckets": parameter, "lowest": _LOWEST, "highest": _HIGHEST}
    rows = connection.execute(_COUNTS[dialect], values).all()
    raw = {b: (ham, spam) for b, ham, spam in rows}
    ham_docs, spam_docs = raw.pop(DOCS_BUCKET, (0, 0))
    ham_units, spam_units = raw.pop(UNITS_BUCKET, (0, 0))
    ham_scores = {
        b - HAM_SCORES_BUCKET: raw.pop(b)[0] for b in list(raw) if _LOWEST <= b <= _HIGHEST
    }
    per_bucket = {b: (ham / UNIT, spam / UNIT) for b, (ham, spam) in raw.items()}
    return scoring.Counts(
        ham_docs, spam_docs, per_bucket, ham_units / UNIT, spam_units / UNIT, ham_scores
    )


@dataclass(frozen=True)
class Verdict:
    """What the filter says of one comment: its score (None before the filter has seen both
    classes), whether it has learned enough to hold comments by itself, and the site's
    histogram of ham arrival scores (read by the same query) for the learned threshold."""

    score: float | None
    ready: bool
    ham_scores: dict[int, int] | None


def score(site_id: int, features: list[str], wanted: list[int] | None = None) -> Verdict:
    """Score one comment against the site's model, in one indexed query; ``wanted``:
    ``buckets(features)`` when the caller has them."""
    if wanted is None:
        wanted = buckets(features)
    counts = load_counts(site_id, wanted)
    if not counts.ham_docs or not counts.spam_docs:
        return Verdict(None, False, counts.ham_scores)
    return Verdict(scoring.METHODS[METHOD](counts, wanted), counts.ready, counts.ham_scores)


def held_by_score(site: Any, verdict: Verdict) -> bool:
    """Whether the filter holds this comment by itself: it is ready and the score is over
    the threshold in force (the learned one is worked out only in ``auto`` mode)."""
    if not verdict.ready or verdict.score is None:
        return False
    auto = site.spam_threshold_auto
    learned = scoring.learned_threshold(verdict.ham_scores) if auto else None
    return verdict.score > threshold_in_force(site, learned)


def threshold_in_force(site: Any, learned: float | None) -> float:
    """The threshold a score is compared with: the learned one in ``auto`` mode once known,
    else the site's fixed threshold."""
    if site.spam_threshold_auto and learned is not None:
        return learned
    return float(site.spam_threshold)


def site_threshold(site: Any) -> tuple[float, float | None]:
    """The threshold in force for the site now, and the learned one (None until known)."""
    learned = scoring.learned_threshold(load_counts(site.id, []).ham_scores)
    return threshold_in_force(site, learned), learned


def _bump(
    site_id: int,
    features: list[str],
    old: str | None,
    new: str | None,
    arrival: float | None,
    wanted: list[int] | None = None,
) -> None:
    """Move one comment's counts from label ``old`` to label ``new`` (None: not counted);
    ``arrival`` is the score it got when it was posted (None: not scored); ``wanted``: the
    features' buckets when the caller has them already."""
    before, after = UNITS.get(old or "", (0, 0)), UNITS.get(new or "", (0, 0))
    ham, spam = after[0] - before[0], after[1] - before[1]
    docs_ham = int(new in ("ham", "good")) - int(old in ("ham", "good"))
    docs_spam = int(new == "spam") - int(old == "spam")
    rows = [(DOCS_BUCKET, docs_ham, docs_spam)]
    if docs_ham and arrival is not None:
        rows.append((HAM_SCORES_BUCKET + scoring.score_bin(arrival), docs_ham, 0))
    rows.append((UNITS_BUCKET, ham, spam))
    features_buckets = buckets(features) if wanted is None else wanted
    connection = db.session.connection()
    dialect = connection.dialect.name
    values: dict[str, Any] = {"site_id": site_id}
    if dialect == "sqlite":  # one writer at a time: the order of the rows does not matter
        values["rows"] = json.dumps(rows, separators=(",", ":"))
        values["buckets"] = json.dumps(features_buckets, separators=(",", ":"))
        values["ham"], values["spam"] = ham, spam
    else:
        rows += [(b, ham, spam) for b in features_buckets]
        rows.sort()  # the one lock order of every update
        values["buckets"], values["hams"], values["spams"] = (
            _int_array(c) for c in zip(*rows, strict=True)
        )
    connection.execute(_BUMP[dialect], values)


def learn_new(
    site_id: int,
    features: list[str],
    label: str,
    arrival: float | None,
    wanted: list[int] | None = None,
) -> None:
    """Count a comment being inserted in this transaction (its row carries the label and
    its arrival score); ``wanted``: ``buckets(features)`` when the caller has them."""
    _bump(site_id, features, None, label, arrival, wanted)


def learn(comment: Comment, label: str | None) -> None:
    """Make the filter count ``comment`` as ``label`` (None: forget it), un-learning the
    class it was counted as before. Part of the caller's transaction; the caller commits."""
    old = comment.spam_label
    if old == label:
        return
    was = Comment.spam_label.is_(None) if old is None else Comment.spam_label == old
    moved = db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id, was)
        .values(spam_label=label)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(comment, "spam_label", label)
    if moved.rowcount != 1:
        return  # another request moved it first and counted the move
    _bump(comment.site_id, features_of(comment), old, label, comment.spam_score)


def moderation_label(action: str, status_before: str) -> str | None:
    """What a moderation action teaches: ``spam`` from any state; approving or restoring
    makes a comment ham the author vouched for (``good``, full weight); deleting teaches
    nothing (a deleted comment may be either)."""
    if action == "spam":
        return "spam"
    if action in ("approve", "restore"):
        return "good"
    return None


def explain(site_id: int, comments: Sequence[Comment], top: int = 5) -> dict[int, list[Any]]:
    """Per comment, the few features that weighed most: (feature, spam probability)."""
    named = {c.id: features_of(c) for c in comments}
    wanted = sorted({bucket(f) for features in named.values() for f in features})
    if not wanted:
        return {}
    counts = load_counts(site_id, wanted)
    answer: dict[int, list[Any]] = {}
    for comment_id, features in named.items():
        weighed = []
        for feature in features:
            f = scoring.feature_probability(counts, bucket(feature))
            if f is not None and abs(f - 0.5) >= scoring.MIN_DISTANCE:
                weighed.append((feature, round(f, 2)))
        weighed.sort(key=lambda item: -abs(item[1] - 0.5))
        answer[comment_id] = weighed[:top]
    return answer
