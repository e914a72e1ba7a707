"""Blocked commenters: "block this commenter" on a comment stores the keyed hashes of its
poster's address and e-mail (never the values), and later comments that match are stored
as spam. Unblocking removes the row.

The site's ``blocked_commenters`` is recounted in the transaction of every change, after
locking the site's row (before any change to its blocks: one lock order), so it is exact
whichever worker or host made the change; a post reads it with the site and looks for a
blocked commenter only when it is not 0 (``service.spam.rules``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.core.extensions import db
from service.db.models import Comment, Site, SpamBlock
from service.db.types import utcnow

KINDS = ("client", "email")

_SITES = Site.__table__.c
_BLOCKS = SpamBlock.__table__.c
# FOR NO KEY UPDATE on PostgreSQL (posts inserting comments, which only take a key share
# of the site's row, go on); nothing on SQLite, whose write gate lets one writer in at a time.
_LOCK_SITE = (
    select(_SITES.id).where(_SITES.id == bindparam("site_id")).with_for_update(key_share=True)
)
_RECOUNT = (
    update(Site.__table__)
    .where(_SITES.id == bindparam("site_id"))
    .values(
        blocked_commenters=select(func.count())
        .where(_BLOCKS.site_id == bindparam("site_id"))
        .scalar_subquery()
    )
)


def _lock_site(site: Site) -> None:
    """Lock the site's row before changing its blocks: changes of one site's blocks then
    follow one another, and each recount sees every change committed before it."""
    db.session.execute(_LOCK_SITE, {"site_id": site.id})


def _recount(site: Site) -> None:
    db.session.execute(_RECOUNT, {"site_id": site.id})
    if site in db.session:
        db.session.expire(site, ["blocked_commenters"])


def block_commenter(site: Site, comment: Comment, note: str) -> list[SpamBlock]:
    """Block the comment's address and e-mail (those it has); repeats change nothing. The
    caller commits (with a moderation action, for the admin's one click)."""
    wanted = [("client", comment.client_lookup), ("email", comment.email_lookup)]
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    if any(digest for _kind, digest in wanted):
        _lock_site(site)
    blocks = []
    for kind, digest in wanted:
        if not digest:
            continue
        # ON CONFLICT DO NOTHING: two authors blocking at once make one row, never a 500.
        db.session.execute(
            insert(SpamBlock)
            .values(site_id=site.id, kind=kind, digest=digest, note=note[:200], created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["site_id", "kind", "digest"])
        )
        block = db.session.scalar(
            select(SpamBlock).where(
                SpamBlock.site_id == site.id, SpamBlock.kind == kind, SpamBlock.digest == digest
            )
        )
        blocks.append(block)
    if blocks:
        _recount(site)
    return blocks


def site_blocks(site: Site) -> Sequence[SpamBlock]:
    return db.session.scalars(
        select(SpamBlock).where(SpamBlock.site_id == site.id).order_by(SpamBlock.id.desc())
    ).all()


def unblock(site: Site, block_id: int) -> bool:
    """Remove one block; False when the site has no such block."""
    _lock_site(site)
    gone = db.session.execute(
        delete(SpamBlock.__table__).where(_BLOCKS.id == block_id, _BLOCKS.site_id == site.id)
    )
    if gone.rowcount != 1:
        db.session.rollback()
        return False
    _recount(site)
    db.session.commit()
    return True
