"""confirmed_addresses (double opt-in for reply e-mails) and admin_sessions (server-side
sessions that signing out ends)

Revision ID: 0005_reliability
Revises: 0006_spam_filter
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_reliability"
down_revision = "0006_spam_filter"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "confirmed_addresses",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("email_lookup", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site_id", "email_lookup"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_admin_sessions_site_id", "admin_sessions", ["site_id"])


def downgrade():
    op.drop_index("ix_admin_sessions_site_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("confirmed_addresses")
