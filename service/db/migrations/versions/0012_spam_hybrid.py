"""The spam filter's linear half (issue 19): ``spam_counts.weight`` (a bucket's linear weight
in units of 2^-24), ``comments.spam_step`` (the step the linear half learned a comment with;
NULL: not in it) and the partial index of published comments not yet confirmed.

The served score becomes the mean of the chi2 model's and the linear model's logits. With
every weight 0 the linear score is 0.5, so the hybrid score of a comment chi2 scored s is
sigmoid(logit(s) / 2): the stored arrival scores are rewritten so, and the learned
threshold's histogram is rebuilt from them, so the threshold stays consistent from the
first post after the upgrade (and a later move of a comment takes out exactly the bin it
is in). Until the author's next moderations confirm them, the hybrid ranks as chi2 did;
``ranklet site relearn-spam SLUG`` teaches it the author's earlier decisions.

Revision ID: 0012_spam_hybrid
Revises: 0011_blocked_commenters
"""

import math
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0012_spam_hybrid"
down_revision = "0011_blocked_commenters"
branch_labels = None
depends_on = None

# Frozen copies of service.spam.features / scoring / models, as of this revision.
HAM_SCORES_BUCKET = -10_000
SCORE_SCALE = 4
SCORE_LIMIT = 80
LOGIT_CLIP = 1e-9
UNCONFIRMED = "spam_label = 'ham' AND spam_step IS NULL AND status = 'approved'"
BATCH = 1000


def _logit(p: float) -> float:
    p = min(max(p, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
    return math.log(p / (1.0 - p))


def _hybrid(chi2: float) -> float:
    """The hybrid score of a chi2 score with the linear half at 0.5 (its logit 0)."""
    return 1.0 / (1.0 + math.exp(-(_logit(chi2) + _logit(0.5)) / 2))


def _chi2(hybrid: float) -> float:
    """The inverse, for the downgrade."""
    return 1.0 / (1.0 + math.exp(-2.0 * _logit(hybrid)))


def _score_bin(score: float) -> int:
    p = min(max(score, 1e-12), 1.0 - 1e-12)
    return max(-SCORE_LIMIT, min(SCORE_LIMIT, math.floor(math.log(p / (1.0 - p)) * SCORE_SCALE)))


def _rescore(change: Callable[[float], float]) -> None:
    """Rewrite every stored arrival score with ``change`` (in batches by id), then rebuild
    the histogram of the learned ham comments' arrival scores from them."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, spam_score FROM comments WHERE spam_score IS NOT NULL AND id > :last"
                " ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": BATCH},
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text("UPDATE comments SET spam_score = :score WHERE id = :id"),
            [{"id": i, "score": change(score)} for i, score in rows],
        )
        last = rows[-1][0]
    low, high = HAM_SCORES_BUCKET - SCORE_LIMIT, HAM_SCORES_BUCKET + SCORE_LIMIT
    bind.execute(
        sa.text("DELETE FROM spam_counts WHERE bucket BETWEEN :low AND :high"),
        {"low": low, "high": high},
    )
    histogram: dict[tuple[int, int], int] = {}
    rows = bind.execute(
        sa.text(
            "SELECT site_id, spam_score FROM comments"
            " WHERE spam_label IN ('ham', 'good') AND spam_score IS NOT NULL"
        )
    )
    for site_id, score in rows:
        key = (site_id, HAM_SCORES_BUCKET + _score_bin(score))
        histogram[key] = histogram.get(key, 0) + 1
    if histogram:
        bind.execute(
            sa.text(
                "INSERT INTO spam_counts (site_id, bucket, ham, spam)"
                " VALUES (:site_id, :bucket, :ham, 0)"
            ),
            [{"site_id": s, "bucket": b, "ham": n} for (s, b), n in sorted(histogram.items())],
        )


def upgrade():
    # Plain ADD COLUMN (no batch copy: a copied table would cascade through foreign keys).
    op.add_column(
        "spam_counts",
        sa.Column("weight", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("comments", sa.Column("spam_step", sa.Double(), nullable=True))
    op.create_index(
        "ix_comments_unconfirmed",
        "comments",
        ["site_id", "id"],
        sqlite_where=sa.text(UNCONFIRMED),
        postgresql_where=sa.text(UNCONFIRMED),
    )
    _rescore(_hybrid)


def downgrade():
    op.drop_index("ix_comments_unconfirmed", table_name="comments")
    op.drop_column("comments", "spam_step")
    op.drop_column("spam_counts", "weight")
    _rescore(_chi2)
