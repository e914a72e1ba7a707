"""Three comment indexes made partial: ``ix_comments_parent``, ``ix_comments_email_lookup``
and ``ix_comments_source`` hold only the rows whose column is not NULL.

Most comments are top-level, carry no e-mail and were not imported, so a post wrote an entry
(and a changed page in SQLite's WAL) into each of them that no query could ever use: every
query on these columns compares them (``parent_id = ...``, ``email_lookup = ...``,
``source_key IN (...)``), which implies ``IS NOT NULL``, so SQLite and PostgreSQL still use
the partial indexes. The unique source key stays unique among the rows that have one, as
before (NULLs never collided).

Revision ID: 0013_partial_comment_indexes
Revises: 0012_spam_hybrid
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_partial_comment_indexes"
down_revision = "0012_spam_hybrid"
branch_labels = None
depends_on = None

# (name, columns, unique, the column that is usually NULL)
INDEXES = (
    ("ix_comments_parent", ["parent_id", "status"], False, "parent_id"),
    ("ix_comments_email_lookup", ["site_id", "email_lookup"], False, "email_lookup"),
    ("ix_comments_source", ["site_id", "source_key"], True, "source_key"),
)


def upgrade() -> None:
    for name, columns, unique, column in INDEXES:
        condition = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name="comments")
        op.create_index(
            name,
            "comments",
            columns,
            unique=unique,
            sqlite_where=condition,
            postgresql_where=condition,
        )


def downgrade() -> None:
    for name, columns, unique, _column in INDEXES:
        op.drop_index(name, table_name="comments")
        op.create_index(name, "comments", columns, unique=unique)
