"""threads.article in its canonical spelling; threads that become one are merged

Before this revision each door stored the article key as it came: ``/2023/05/経営/``,
``/2023/05/%E7%B5%8C%E5%96%B6/`` (a browser) and ``%e7...`` (a WordPress import) were three
threads. Every key is rewritten to ``canonical_article`` (API.md §4); where several threads
of a site share one canonical key, their comments move to one of them (the one already
spelled canonically, else the oldest), which keeps its own title and link, or takes the
first the others have; the approved count is counted again from the rows and the version
goes past every merged one's, so no ETag of before still matches. Nothing is deleted but
the emptied duplicate threads. Running it again changes nothing (every key is canonical).

The downgrade keeps the data as it is: a merged thread cannot be told apart again, and the
schema did not change.

Revision ID: 0004_canonical_articles
Revises: 0003_language
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from service.core.text_rules import canonical_article

revision = "0004_canonical_articles"
down_revision = "0003_language"
branch_labels = None
depends_on = None

_threads = sa.table(
    "threads",
    sa.column("id", sa.Integer),
    sa.column("site_id", sa.Integer),
    sa.column("article", sa.String),
    sa.column("title", sa.String),
    sa.column("url", sa.String),
    sa.column("approved_count", sa.Integer),
    sa.column("version", sa.Integer),
)
_comments = sa.table(
    "comments",
    sa.column("id", sa.Integer),
    sa.column("thread_id", sa.Integer),
    sa.column("status", sa.String),
)


def upgrade():
    bind = op.get_bind()
    groups: dict[tuple[int, str], list[sa.Row]] = defaultdict(list)
    for row in bind.execute(
        sa.select(
            _threads.c.id,
            _threads.c.site_id,
            _threads.c.article,
            _threads.c.title,
            _threads.c.url,
            _threads.c.version,
        ).order_by(_threads.c.id)
    ):
        canonical = canonical_article(row.article)
        if len(canonical) > 512:  # a stray "%" became "%25": too long to store, left as is
            continue
        groups[(row.site_id, canonical)].append(row)
    for (_site_id, canonical), rows in groups.items():
        if len(rows) == 1 and rows[0].article == canonical:
            continue
        _merge(bind, canonical, rows)


def _merge(bind: sa.Connection, canonical: str, rows: list[sa.Row]) -> None:
    keeper = next((row for row in rows if row.article == canonical), rows[0])
    others = [row.id for row in rows if row.id != keeper.id]
    values = {
        "title": keeper.title or next((row.title for row in rows if row.title), None),
        "url": keeper.url or next((row.url for row in rows if row.url), None),
        "version": max(row.version or 0 for row in rows) + 1,
    }
    if others:
        bind.execute(
            sa.update(_comments)
            .where(_comments.c.thread_id.in_(others))
            .values(thread_id=keeper.id)
        )
        bind.execute(sa.delete(_threads).where(_threads.c.id.in_(others)))
    approved = (
        sa.select(sa.func.count())
        .select_from(_comments)
        .where(_comments.c.thread_id == keeper.id, _comments.c.status == "approved")
        .scalar_subquery()
    )
    bind.execute(
        sa.update(_threads)
        .where(_threads.c.id == keeper.id)
        .values(article=canonical, approved_count=approved, **values)
    )


def downgrade():
    pass
