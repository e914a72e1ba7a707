"""sites.timezone: the time zone the admin shows times in (NULL follows the language)

Revision ID: 0003_language
Revises: 0002_rankevents
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_language"
down_revision = "0002_rankevents"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("timezone")
