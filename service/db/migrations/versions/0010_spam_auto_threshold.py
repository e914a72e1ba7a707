"""The learning filter's learned threshold (issue 19): ``sites.spam_threshold_auto`` and the
histogram of learned ham comments' arrival scores in ``spam_counts``, filled from the
comments already learned.

Sites still on the old default threshold (0.95) move to ``auto``; a threshold the author
chose stays fixed.

Revision ID: 0010_spam_auto_threshold
Revises: 0009_author_tools
"""

import math

import sqlalchemy as sa
from alembic import op

revision = "0010_spam_auto_threshold"
down_revision = "0009_author_tools"
branch_labels = None
depends_on = None

# Frozen copies of service.spam.features / scoring, as of this revision.
HAM_SCORES_BUCKET = -10_000
SCORE_SCALE = 4
SCORE_LIMIT = 80


def _score_bin(score: float) -> int:
    p = min(max(score, 1e-12), 1.0 - 1e-12)
    return max(-SCORE_LIMIT, min(SCORE_LIMIT, math.floor(math.log(p / (1.0 - p)) * SCORE_SCALE)))


def upgrade():
    op.add_column(
        "sites",
        sa.Column("spam_threshold_auto", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE sites SET spam_threshold_auto = (spam_threshold = 0.95)"))
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
                " ON CONFLICT (site_id, bucket) DO UPDATE SET ham = excluded.ham"
            ),
            [{"site_id": s, "bucket": b, "ham": n} for (s, b), n in sorted(histogram.items())],
        )


def downgrade():
    # Plain DROP COLUMN, no batch copy (see 0009: a copied ``sites`` would cascade).
    op.execute(
        sa.text("DELETE FROM spam_counts WHERE bucket BETWEEN :low AND :high").bindparams(
            low=HAM_SCORES_BUCKET - SCORE_LIMIT, high=HAM_SCORES_BUCKET + SCORE_LIMIT
        )
    )
    op.drop_column("sites", "spam_threshold_auto")
