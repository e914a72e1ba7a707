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

The linear half (``scoring.hybrid_score``): every feature row also holds a weight, an
integer in units of 2^-24, and each comment keeps the step it was learned with
(``Comment.spam_step``; None: not in the linear model). A decision computes the comment's
new step at the margin the weights give it without its own old step, stores it, and adds
the difference of the two steps' per-bucket amounts, so un-learning takes out exactly what
was put in. Published comments (``ham``) enter the linear model only when **confirmed**:
when the author moderates a later comment while they stay published (``moderate``: at most
``CONFIRM_LIMIT`` per action, claimed by a conditional UPDATE that skips rows other
transactions hold, so two moderators never confirm one comment twice). All of one
transaction's changes to the rows are summed and written by one statement, in ascending
bucket order: two moderations lock the rows they share in one order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, literal_column, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from service.core.extensions import db
from service.db import driver
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
# Which model scores: the hybrid (chi2 and the linear half); "chi2" and "bayes" alone only
# for the benchmark's comparison (on a fresh database: the learned threshold's histogram
# holds the arrival scores of the method that gave them).
METHOD = os.environ.get("RANKLET_SPAM_METHOD", "hybrid")
CONFIRM_LIMIT = 100  # published comments one moderation action confirms, at most
MIN_PUSH = 0.4  # a linear push (logits) shown without chi2's clue: as much as f = 0.6 says

# One fixed statement per database, the buckets passed as one JSON or array parameter: an
# expanding IN would be compiled again for every count of buckets (most of the cost).
# The histogram's rows come with every read: a second range of the primary key in the same
# statement (UNION ALL: an OR of the two would make SQLite scan the site's rows).
_SELECT = "SELECT bucket, ham, spam, weight FROM spam_counts WHERE site_id = :site_id"
_FEATURE_ROWS = {
    "sqlite": " AND bucket IN (SELECT value FROM json_each(:buckets))",
    "postgresql": " AND bucket = ANY(CAST(:buckets AS integer[]))",
}
_HISTOGRAM_ROWS = " AND bucket BETWEEN :lowest AND :highest"
_COUNTS = {
    dialect: text(f"{_SELECT}{rows} UNION ALL {_SELECT}{_HISTOGRAM_ROWS}")
    for dialect, rows in _FEATURE_ROWS.items()
}
# What scoring a new comment reads: the two counting rows, and the features' and the
# histogram's only once the site has learned comments of both classes (before that nothing
# is scored, so a site that has never had spam marked reads two rows, not a hundred). The
# condition is an uncorrelated lookup of the documents row: evaluated once per statement.
_BOTH_CLASSES = (
    " AND EXISTS (SELECT 1 FROM spam_counts WHERE site_id = :site_id AND bucket = :docs"
    " AND ham > 0 AND spam > 0)"
)
_SCORE_COUNTS = {
    dialect: text(
        f"{_SELECT} AND bucket IN (:docs, :units)"
        f" UNION ALL {_SELECT}{rows}{_BOTH_CLASSES}"
        f" UNION ALL {_SELECT}{_HISTOGRAM_ROWS}{_BOTH_CLASSES}"
    )
    for dialect, rows in _FEATURE_ROWS.items()
}
_SELECT_WEIGHTS = "SELECT bucket, weight FROM spam_counts WHERE site_id = :site_id"
_WEIGHTS = {dialect: text(_SELECT_WEIGHTS + rows) for dialect, rows in _FEATURE_ROWS.items()}
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
# The same with the linear weights: what a decision and confirmation change (posting
# changes no weight, and keeps the shorter statement).
_BUMP_WEIGHTS = {
    "sqlite": text(
        "INSERT INTO spam_counts (site_id, bucket, ham, spam, weight)"
        " SELECT :site_id, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(:rows)"
        " WHERE true ON CONFLICT (site_id, bucket) DO UPDATE"
        " SET ham = spam_counts.ham + excluded.ham, spam = spam_counts.spam + excluded.spam,"
        " weight = spam_counts.weight + excluded.weight"
    ),
    "postgresql": text(
        "INSERT INTO spam_counts (site_id, bucket, ham, spam, weight)"
        " SELECT :site_id, b, h, s, w FROM unnest(CAST(:buckets AS integer[]),"
        " CAST(:hams AS integer[]), CAST(:spams AS integer[]), CAST(:weights AS bigint[]))"
        " AS t(b, h, s, w) ORDER BY b"
        " ON CONFLICT (site_id, bucket) DO UPDATE"
        " SET ham = spam_counts.ham + excluded.ham, spam = spam_counts.spam + excluded.spam,"
        " weight = spam_counts.weight + excluded.weight"
    ),
}


def _int_array(numbers: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,-2}``), for ``CAST(... AS integer[])``:
    the driver would check every element of a list on its own (a regular expression each)."""
    return "{" + ",".join(map(str, numbers)) + "}"


def _buckets_parameter(dialect: str, keys: Sequence[int]) -> str:
    """Buckets as the one parameter the dialect's statements read them from: a JSON array
    for SQLite's ``json_each``, an array literal for PostgreSQL's ``ANY``."""
    return json.dumps(keys) if dialect == "sqlite" else _int_array(keys)


def features_of(comment: Comment) -> list[str]:
    return comment_features(
        comment.body_html, comment.author, comment.website, comment.email_encrypted is not None
    )


def load_counts(
    site_id: int, wanted: Sequence[int], *, scoring_only: bool = False
) -> scoring.Counts:
    """The document totals and the counts of these buckets, in one indexed query;
    ``scoring_only``: the buckets and the histogram only if the site has learned both
    classes (what scoring needs; the totals say whether it has)."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    keys = list(wanted) if scoring_only else [UNITS_BUCKET, DOCS_BUCKET, *wanted]
    parameter = _buckets_parameter(dialect, keys)
    values = {"site_id": site_id, "buckets": parameter, "lowest": _LOWEST, "highest": _HIGHEST}
    if scoring_only:
        values["docs"], values["units"] = DOCS_BUCKET, UNITS_BUCKET
    statement = (_SCORE_COUNTS if scoring_only else _COUNTS)[dialect]
    rows = driver.rows(connection, statement, values)
    raw = {b: (ham, spam, weight) for b, ham, spam, weight in rows}
    ham_docs, spam_docs, _ = raw.pop(DOCS_BUCKET, (0, 0, 0))
    ham_units, spam_units, _ = raw.pop(UNITS_BUCKET, (0, 0, 0))
    ham_scores = {
        b - HAM_SCORES_BUCKET: raw.pop(b)[0] for b in list(raw) if _LOWEST <= b <= _HIGHEST
    }
    per_bucket = {b: (ham / UNIT, spam / UNIT) for b, (ham, spam, _) in raw.items()}
    weights = {b: weight for b, (_, _, weight) in raw.items() if weight}
    return scoring.Counts(
        ham_docs, spam_docs, per_bucket, ham_units / UNIT, spam_units / UNIT, ham_scores, weights
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
    counts = load_counts(site_id, wanted, scoring_only=True)
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


def _unit_change(old: str | None, new: str | None) -> tuple[int, int]:
    """The (ham, spam) units each feature row and the units row gain when a comment moves
    from label ``old`` to ``new`` (None: not counted)."""
    before, after = UNITS.get(old or "", (0, 0)), UNITS.get(new or "", (0, 0))
    return after[0] - before[0], after[1] - before[1]


def _label_rows(old: str | None, new: str | None, arrival: float | None) -> list[list[int]]:
    """The count rows a move from label ``old`` to ``new`` changes, less the features':
    [bucket, ham, spam] for the comments, the units and the histogram."""
    docs_ham = int(new in ("ham", "good")) - int(old in ("ham", "good"))
    docs_spam = int(new == "spam") - int(old == "spam")
    rows = [[DOCS_BUCKET, docs_ham, docs_spam]]
    if docs_ham and arrival is not None:
        rows.append([HAM_SCORES_BUCKET + scoring.score_bin(arrival), docs_ham, 0])
    rows.append([UNITS_BUCKET, *_unit_change(old, new)])
    return rows


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
    features' buckets when the caller has them already. No weight changes (posting)."""
    ham, spam = _unit_change(old, new)
    rows = [tuple(row) for row in _label_rows(old, new, arrival)]
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
    driver.rows(connection, _BUMP[dialect], values)


def learn_new(
    site_id: int,
    features: list[str],
    label: str,
    arrival: float | None,
    wanted: list[int] | None = None,
) -> None:
    """Count a comment being inserted in this transaction (its row carries the label and
    its arrival score); ``wanted``: ``buckets(features)`` when the caller has them. A new
    comment is not in the linear half: published ham waits for confirmation."""
    _bump(site_id, features, None, label, arrival, wanted)


@dataclass
class _Move:
    """One comment moving between labels in this transaction (its label row already
    updated): what it was, what it becomes, and the linear step it held."""

    comment: Comment
    old: str | None
    new: str | None
    old_step: float | None
    wanted: list[int]


class _Changes:
    """What one transaction adds to a site's rows, per bucket [ham, spam, weight], written
    by one statement; and the weights it has read, with its own additions, for the steps
    computed one after another."""

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.rows: dict[int, list[int]] = {}
        self.weights: dict[int, int] = {}

    def read_weights(self, wanted: set[int]) -> None:
        if not wanted:
            return
        connection = db.session.connection()
        dialect = connection.dialect.name
        keys = sorted(wanted)
        parameter = _buckets_parameter(dialect, keys)
        found = connection.execute(
            _WEIGHTS[dialect], {"site_id": self.site_id, "buckets": parameter}
        ).all()
        self.weights.update({b: weight for b, weight in found if weight})

    def add(self, bucket: int, ham: int, spam: int, weight: int = 0) -> None:
        row = self.rows.setdefault(bucket, [0, 0, 0])
        row[0] += ham
        row[1] += spam
        row[2] += weight
        if weight:
            self.weights[bucket] = self.weights.get(bucket, 0) + weight

    def write(self) -> None:
        rows = [[b, *row] for b, row in sorted(self.rows.items()) if any(row)]
        if not rows:
            return
        connection = db.session.connection()
        dialect = connection.dialect.name
        values: dict[str, Any] = {"site_id": self.site_id}
        if dialect == "sqlite":
            values["rows"] = json.dumps(rows, separators=(",", ":"))
        else:
            columns = [_int_array(c) for c in zip(*rows, strict=True)]
            values["buckets"], values["hams"], values["spams"], values["weights"] = columns
        connection.execute(_BUMP_WEIGHTS[dialect], values)


def _relabel(comment: Comment, label: str | None) -> _Move | None:
    """Move the comment's label row from what it is to ``label``, conditionally: None when
    there is nothing to move or another request moved it first (and counts that move)."""
    old = comment.spam_label
    if old == label:
        return None
    was = Comment.spam_label.is_(None) if old is None else Comment.spam_label == old
    # The stored step comes back from the row this UPDATE locked: a confirmation that
    # committed meanwhile is seen, never an older copy.
    found = db.session.execute(
        update(Comment)
        .where(Comment.id == comment.id, was)
        .values(spam_label=label)
        .returning(Comment.spam_step)
        .execution_options(synchronize_session=False)
    ).first()
    set_committed_value(comment, "spam_label", label)
    if found is None:
        return None  # another request moved it first and counted the move
    return _Move(comment, old, label, found[0], buckets(features_of(comment)))


def _learn_moves(changes: _Changes, moves: Sequence[_Move]) -> None:
    """Add the moves' count rows and linear steps to ``changes`` and store each new step
    (``ham``: none until confirmed; no label: none)."""
    for move in moves:
        ham, spam = _unit_change(move.old, move.new)
        for bucket_row in _label_rows(move.old, move.new, move.comment.spam_score):
            changes.add(*bucket_row)
        size = len(move.wanted)
        new_step = None
        if move.new in ("good", "spam"):
            found = scoring.margin(changes.weights, move.wanted, move.old_step)
            new_step = scoring.pa_step(move.new, found)
        units = scoring.bucket_units(new_step or 0.0, size)
        units -= scoring.bucket_units(move.old_step or 0.0, size)
        for b in move.wanted:
            changes.add(b, ham, spam, units)
        if new_step != move.old_step:
            db.session.execute(_STORE_STEP, {"comment_id": move.comment.id, "step": new_step})
        set_committed_value(move.comment, "spam_step", new_step)


def learn(comment: Comment, label: str | None) -> None:
    """Make the filter count ``comment`` as ``label`` (None: forget it), un-learning the
    class it was counted as before. Part of the caller's transaction; the caller commits."""
    move = _relabel(comment, label)
    if move is None:
        return
    changes = _Changes(comment.site_id)
    if move.new in ("good", "spam"):
        changes.read_weights(set(move.wanted))
    _learn_moves(changes, [move])
    changes.write()


def _claim(conditions: Sequence[Any], limit: int) -> list[tuple[int, str | None, list[int]]]:
    """Claim (step 0) up to ``limit`` of the comments matching ``conditions`` that the linear
    half has not learned, oldest first: their ids, labels and buckets. Rows another
    transaction holds are skipped (PostgreSQL), and the claim checks the conditions again
    on the row it locks: a comment is claimed once, whoever else claims at the same time."""
    unlearned = [*conditions, Comment.spam_step.is_(None)]
    waiting = (
        select(Comment.id)
        .where(*unlearned)
        .order_by(Comment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # Two statements: as a subquery of the UPDATE, PostgreSQL may run the locking SELECT
    # again, and it then skips the rows the UPDATE has just changed and takes the next ones.
    ids = db.session.scalars(waiting).all()
    if not ids:
        return []
    claimed = db.session.execute(
        update(Comment)
        .where(Comment.id.in_(ids), *unlearned)
        .values(spam_step=0.0)
        .returning(
            Comment.id,
            Comment.spam_label,
            Comment.body_html,
            Comment.author,
            Comment.website,
            # The column itself: SQLAlchemy read ``email_encrypted IS NOT NULL`` in SQLite's
            # RETURNING as true for NULL.
            Comment.email_encrypted,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return [
        (comment_id, label, buckets(comment_features(body, author, website, email is not None)))
        for comment_id, label, body, author, website, email in sorted(claimed)
    ]


def _claim_unconfirmed(site_id: int, below: int, acted: set[int]) -> list[tuple[int, list[int]]]:
    """Claim up to ``CONFIRM_LIMIT`` of the site's published comments older than ``below``
    that the linear half has not learned, leaving out ``acted`` (the comments of the
    action): their ids and buckets (see :func:`_claim`)."""
    conditions = [
        Comment.site_id == site_id,
        # Literals, as in the partial index ix_comments_unconfirmed (SQLite uses it only so).
        Comment.spam_label == literal_column("'ham'"),
        Comment.status == literal_column("'approved'"),
        Comment.id < below,
        Comment.id.not_in(acted),
    ]
    return [(comment_id, found) for comment_id, _, found in _claim(conditions, CONFIRM_LIMIT)]


def _learn_claimed(changes: _Changes, claimed: Sequence[tuple[int, str, list[int]]]) -> None:
    """Learn each claimed comment as its label with a full step, one after another at the
    weights the ones before left (read by the caller); store the steps. The caller writes
    ``changes``."""
    steps = []
    for comment_id, label, found in claimed:
        step = scoring.pa_step(label, scoring.margin(changes.weights, found))
        units = scoring.bucket_units(step, len(found))
        for b in found:
            changes.add(b, 0, 0, units)
        steps.append({"comment_id": comment_id, "step": step})
    if steps:
        db.session.execute(_STORE_STEP, steps)


_STORE_STEP = (
    update(Comment.__table__)
    .where(Comment.__table__.c.id == bindparam("comment_id"))
    .values(spam_step=bindparam("step"))
)


def moderate(site_id: int, moves: Sequence[tuple[Comment, str]], acted: Sequence[Comment]) -> None:
    """Learn one moderation action of the author in its transaction: first confirm the
    published comments older than the newest one ``acted`` on (the author moderated after
    them while they stayed published), each learned by the linear half as ham with a full
    step, one after another; then move each of ``moves`` to its label. All the rows'
    changes go in one statement. The caller commits."""
    if not acted:
        return
    relabelled = [move for comment, label in moves if (move := _relabel(comment, label))]
    newest = max(comment.id for comment in acted)
    confirmed = _claim_unconfirmed(site_id, newest, {comment.id for comment in acted})
    changes = _Changes(site_id)
    wanted = {b for _, found in confirmed for b in found}
    wanted.update(b for m in relabelled if m.new in ("good", "spam") for b in m.wanted)
    changes.read_weights(wanted)
    _learn_claimed(changes, [(comment_id, "ham", found) for comment_id, found in confirmed])
    _learn_moves(changes, relabelled)
    changes.write()


def learn_past_decisions(site_id: int, batch: int = 200) -> int:
    """Teach the linear half the author's decisions it has not learned (made before it
    existed: labels ``good`` and ``spam`` without a step), oldest first, ``batch`` a
    transaction; how many. Claimed like confirmations (skipping rows other transactions
    hold, re-checking on the locked row), so it may run beside the service. Commits."""
    learned = 0
    while True:
        conditions = [Comment.site_id == site_id, Comment.spam_label.in_(("good", "spam"))]
        found = _claim(conditions, batch)
        if not found:
            db.session.commit()
            return learned
        changes = _Changes(site_id)
        changes.read_weights({b for _, _, wanted in found for b in wanted})
        _learn_claimed(changes, [(i, str(label), wanted) for i, label, wanted in found])
        changes.write()
        db.session.commit()
        learned += len(found)


def moderation_label(action: str, status_before: str) -> str | None:
    """What a moderation action teaches: ``spam`` from any state; approving or restoring
    makes a comment ham the author vouched for (``good``, full weight); deleting teaches
    nothing (a deleted comment may be either)."""
    if action == "spam":
        return "spam"
    if action in ("approve", "restore"):
        return "good"
    return None


@dataclass(frozen=True)
class Reason:
    """One feature that weighed in a comment's score: chi2's spam probability for it (0.5:
    it says nothing) and what its linear weight adds to the linear half's logit."""

    feature: str
    spam_probability: float
    weight: float


def explain(site_id: int, comments: Sequence[Comment], top: int = 5) -> dict[int, list[Reason]]:
    """Per comment, the few features that pushed its score most, either way: each half's
    push in logits (chi2's clue, or nothing; the linear weight's), averaged as the hybrid
    averages the two halves."""
    named = {c.id: features_of(c) for c in comments}
    wanted = sorted({bucket(f) for features in named.values() for f in features})
    if not wanted:
        return {}
    counts = load_counts(site_id, wanted)
    weights = counts.weights or {}
    answer: dict[int, list[Reason]] = {}
    for comment_id, features in named.items():
        size = len({bucket(f) for f in features})
        weighed = []
        for feature in features:
            b = bucket(feature)
            f = scoring.feature_probability(counts, b)
            clue = f is not None and abs(f - 0.5) >= scoring.MIN_DISTANCE
            push = scoring.linear_push(weights.get(b, 0), size)
            if not clue and abs(push) < MIN_PUSH:
                continue
            probability = f if clue and f is not None else 0.5
            total = (scoring.logit(min(max(probability, 0.01), 0.99)) + push) / 2
            weighed.append((abs(total), Reason(feature, round(probability, 2), round(push, 2))))
        weighed.sort(key=lambda item: -item[0])
        answer[comment_id] = [reason for _, reason in weighed[:top]]
    return answer
