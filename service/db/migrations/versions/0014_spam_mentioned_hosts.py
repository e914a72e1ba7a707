"""The spam filter counts host names written in a comment's text without a link
(``movi5.com``, ``bit.ly/x``, ``site. com``) as it counts the hosts of its links, with a
feature of its own ("mentions a host: yes or no"); ``docs/spam-research.md``, ninth
session. Link spam that dodges the link rules reads as harmless words otherwise.

A comment's move between classes finds its rows again from its text, so every site's
feature rows are recounted from its stored comments with the new features, and its linear
half is learned again from the comments it had learned, oldest first
(``service.spam.recount``). The comment counts, the units and the histogram of arrival
scores do not depend on the features and stay. The downgrade recounts without the
mentioned hosts. About 0.16 ms a learned comment (20,000 in 3.2 s on SQLite).

This migration runs the service's feature code, not a frozen copy: a recount is only right
with the features the code that runs afterwards has, and a later change of the features
comes with its own recount.

Revision ID: 0014_spam_mentioned_hosts
Revises: 0013_partial_comment_indexes
"""

from alembic import op

revision = "0014_spam_mentioned_hosts"
down_revision = "0013_partial_comment_indexes"
branch_labels = None
depends_on = None


def upgrade():
    from service.spam.recount import recount_all

    recount_all(op.get_bind(), mentions=True)


def downgrade():
    from service.spam.recount import recount_all

    recount_all(op.get_bind(), mentions=False)
