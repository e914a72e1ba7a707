"""Blocked commenters: "block this commenter" on a comment stores the keyed hashes of its
poster's address and e-mail (never the values), and later comments that match are stored
as spam. Unblocking removes the row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.core.extensions import db
from service.db.models import Comment, Site, SpamBlock
from service.db.types import utcnow

KINDS = ("client", "email")


def block_commenter(site: Site, comment: Comment, note: str) -> list[SpamBlock]:
    """Block the comment's address and e-mail (those it has); repeats change nothing. The
    caller commits (with a moderation action, for the admin's one click)."""
    wanted = [("client", comment.client_lookup), ("email", comment.email_lookup)]
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
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
    return blocks


def site_blocks(site: Site) -> Sequence[SpamBlock]:
    return db.session.scalars(
        select(SpamBlock).where(SpamBlock.site_id == site.id).order_by(SpamBlock.id.desc())
    ).all()


def unblock(site: Site, block_id: int) -> bool:
    """Remove one block; False when the site has no such block."""
    block = db.session.get(SpamBlock, block_id)
    if block is None or block.site_id != site.id:
        return False
    db.session.delete(block)
    db.session.commit()
    return True
