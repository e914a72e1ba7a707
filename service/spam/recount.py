"""Recounting a site's filter from its stored comments, for a migration that changes which
features a comment has (``service.spam.features``).

A comment's move between classes finds its rows again from its text, so the rows must be
those the current features give: the feature rows' counts are summed again from every
labelled comment, and the linear half is learned again, oldest comment first, from the
comments it had learned (those with a step), each at the weights the ones before it left,
with the step stored anew. The comments, documents and units rows and the histogram of
arrival scores do not depend on the features and are left as they are. Afterwards every
stored step is exactly what un-learning its comment takes out, as after live learning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.spam import scoring
from service.spam.features import buckets, comment_features
from service.spam.model import UNITS

BATCH = 1000

_COMMENTS = text(
    "SELECT id, spam_label, spam_step, body_html, author, website,"
    " CASE WHEN email_encrypted IS NULL THEN 0 ELSE 1 END"
    " FROM comments WHERE site_id = :site_id AND spam_label IS NOT NULL AND id > :last"
    " ORDER BY id LIMIT :batch"
)
_DELETE_FEATURE_ROWS = text("DELETE FROM spam_counts WHERE site_id = :site_id AND bucket >= 0")
_INSERT_ROW = text(
    "INSERT INTO spam_counts (site_id, bucket, ham, spam, weight)"
    " VALUES (:site_id, :bucket, :ham, :spam, :weight)"
)
_STORE_STEP = text("UPDATE comments SET spam_step = :step WHERE id = :id")


def _labelled(connection: Connection, site_id: int) -> Iterator[tuple[Any, ...]]:
    last = 0
    while True:
        rows = connection.execute(
            _COMMENTS, {"site_id": site_id, "last": last, "batch": BATCH}
        ).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def recount_site(connection: Connection, site_id: int, *, mentions: bool = True) -> int:
    """Recount one site's feature rows and re-learn its linear half with the current
    features (``mentions``: see ``comment_features``); how many comments were counted.
    Runs in the caller's transaction."""
    counts: dict[int, list[int]] = {}  # bucket -> [ham, spam]
    weights: dict[int, int] = {}
    steps: list[dict[str, Any]] = []
    counted = 0
    for comment_id, label, step, body, author, website, has_email in _labelled(connection, site_id):
        wanted = buckets(
            comment_features(body, author, website, bool(has_email), mentions=mentions)
        )
        ham, spam = UNITS[label]
        units = 0
        if step is not None:
            new_step = scoring.pa_step(label, scoring.margin(weights, wanted))
            units = scoring.bucket_units(new_step, len(wanted))
            steps.append({"id": comment_id, "step": new_step})
        for b in wanted:
            row = counts.setdefault(b, [0, 0])
            row[0] += ham
            row[1] += spam
            if units:
                weights[b] = weights.get(b, 0) + units
        counted += 1
    connection.execute(_DELETE_FEATURE_ROWS, {"site_id": site_id})
    values = [
        {"site_id": site_id, "bucket": b, "ham": h, "spam": s, "weight": weights.get(b, 0)}
        for b, (h, s) in sorted(counts.items())
        if h or s or weights.get(b)
    ]
    for start in range(0, len(values), BATCH):
        connection.execute(_INSERT_ROW, values[start : start + BATCH])
    for start in range(0, len(steps), BATCH):
        connection.execute(_STORE_STEP, steps[start : start + BATCH])
    return counted


def recount_all(connection: Connection, *, mentions: bool = True) -> int:
    """Recount every site that has learned a comment; how many comments in all."""
    sites = connection.execute(
        text("SELECT DISTINCT site_id FROM comments WHERE spam_label IS NOT NULL ORDER BY 1")
    ).scalars()
    return sum(recount_site(connection, site_id, mentions=mentions) for site_id in list(sites))
