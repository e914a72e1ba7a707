"""Author tools (issue 22): pinned comments, the site's comments version (recent comments),
encrypted chat channels.

Revision ID: 0009_author_tools
Revises: 0005_reliability
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_author_tools"
down_revision = "0005_reliability"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_comments_pinned", ["thread_id", "pinned_at"])
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("chat_encrypted", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("comments_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), no batch copy: dropping the copied
    # ``sites`` table would cascade to every thread and comment through the foreign keys.
    op.drop_index("ix_comments_pinned", table_name="comments")
    op.drop_column("comments", "pinned_at")
    op.drop_column("sites", "comments_version")
    op.drop_column("sites", "chat_encrypted")
