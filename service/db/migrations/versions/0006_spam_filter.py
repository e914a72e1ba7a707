"""Spam guards: the learning filter's counts, blocked commenters, spent challenges, and the
site and comment columns they need (issue 19)

Revision ID: 0006_spam_filter
Revises: 0004_canonical_articles
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_spam_filter"
down_revision = "0004_canonical_articles"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("spam_patterns", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("spam_threshold", sa.Float(), nullable=False, server_default="0.95")
        )
        batch.add_column(
            sa.Column("challenge", sa.String(length=8), nullable=False, server_default="off")
        )
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("spam_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("spam_label", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("client_lookup", sa.String(length=64), nullable=True))
    op.create_table(
        "spam_counts",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ham", sa.Integer(), nullable=False),
        sa.Column("spam", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "bucket"),
    )
    op.create_table(
        "spam_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "kind", "digest"),
    )
    op.create_table(
        "used_challenges",
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge"),
    )
    op.create_index("ix_used_challenges_expires_at", "used_challenges", ["expires_at"])


def downgrade():
    op.drop_index("ix_used_challenges_expires_at", table_name="used_challenges")
    op.drop_table("used_challenges")
    op.drop_table("spam_blocks")
    op.drop_table("spam_counts")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of ``comments`` would
    # drop the table its replies and likes point at, which foreign keys refuse.
    for column in ("client_lookup", "spam_label", "spam_score"):
        op.drop_column("comments", column)
    for column in ("challenge", "spam_threshold", "spam_patterns"):
        op.drop_column("sites", column)
