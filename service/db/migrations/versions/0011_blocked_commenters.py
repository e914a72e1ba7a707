"""``sites.blocked_commenters``: how many commenters each site blocks, so that a post looks
for a blocked commenter only on a site that has any (``service.spam.blocks`` keeps it).

Revision ID: 0011_blocked_commenters
Revises: 0010_spam_auto_threshold
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_blocked_commenters"
down_revision = "0010_spam_auto_threshold"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "sites",
        sa.Column("blocked_commenters", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        sa.text(
            "UPDATE sites SET blocked_commenters ="
            " (SELECT count(*) FROM spam_blocks WHERE spam_blocks.site_id = sites.id)"
        )
    )


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), no batch copy: dropping the copied
    # ``sites`` table would cascade to every thread and comment through the foreign keys.
    op.drop_column("sites", "blocked_commenters")
