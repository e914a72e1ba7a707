"""rank events: which ones a site sends, and how long the badge says "New best!"

Revision ID: 0002_rankevents
Revises: 0001

"""

import sqlalchemy as sa
from alembic import op

revision = "0002_rankevents"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch_op:
        batch_op.add_column(
            sa.Column("rank_events", sa.String(length=8), nullable=False, server_default="best")
        )
        batch_op.add_column(
            sa.Column("best_flag_days", sa.Integer(), nullable=False, server_default="7")
        )


def downgrade():
    with op.batch_alter_table("sites") as batch_op:
        batch_op.drop_column("best_flag_days")
        batch_op.drop_column("rank_events")
