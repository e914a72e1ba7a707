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
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("comments_version")
        batch.drop_column("chat_encrypted")
    with op.batch_alter_table("comments") as batch:
        batch.drop_index("ix_comments_pinned")
        batch.drop_column("pinned_at")
