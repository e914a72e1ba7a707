"""Rank history: recording positions, current and best (最高順位), history, categories."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_smorest import abort
from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.core import events
from service.core.extensions import db
from service.db.models import Category, RankEntry, Site
from service.db.types import utcnow
from service.http.caching import bump_site

CATEGORY_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class Observation:
    position: int
    observed_at: datetime


@dataclass(frozen=True)
class CategoryStanding:
    category: Category
    current: Observation | None
    best: Observation | None
    entries: int


def get_category_or_404(site: Site, key: str) -> Category:
    category = None
    if CATEGORY_KEY.fullmatch(key):  # else never a category; PostgreSQL refuses NUL in text
        category = db.session.scalar(
            select(Category).where(Category.site_id == site.id, Category.key == key)
        )
    if category is None:
        abort(404, message=f"No category {key!r} on this site.")
    return category


def standings(site: Site) -> list[CategoryStanding]:
    """Current, best and entry count of every category, in three grouped queries."""
    categories = list(site.categories)
    ids = [c.id for c in categories]
    if not ids:
        return []
    counts = dict(
        db.session.execute(
            select(RankEntry.category_id, func.count())
            .where(RankEntry.category_id.in_(ids))
            .group_by(RankEntry.category_id)
        ).all()
    )
    latest = (
        select(RankEntry.category_id, func.max(RankEntry.observed_at).label("at"))
        .where(RankEntry.category_id.in_(ids))
        .group_by(RankEntry.category_id)
        .subquery()
    )
    current = {
        row.category_id: Observation(row.position, row.observed_at)
        for row in db.session.execute(
            select(RankEntry.category_id, RankEntry.position, RankEntry.observed_at).join(
                latest,
                and_(
                    RankEntry.category_id == latest.c.category_id,
                    RankEntry.observed_at == latest.c.at,
                ),
            )
        )
    }
    best = best_ranks(ids)
    return [
        CategoryStanding(c, current.get(c.id), best.get(c.id), counts.get(c.id, 0))
        for c in categories
    ]


def best_ranks(category_ids: list[int]) -> dict[int, Observation]:
    """The best (lowest) position of each category, with the time it was first reached."""
    if not category_ids:
        return {}
    lowest = (
        select(RankEntry.category_id, func.min(RankEntry.position))
        .where(RankEntry.category_id.in_(category_ids))
        .group_by(RankEntry.category_id)
    )
    return {
        row.category_id: Observation(row.position, row.first)
        for row in db.session.execute(
            select(
                RankEntry.category_id,
                RankEntry.position,
                func.min(RankEntry.observed_at).label("first"),
            )
            .where(tuple_(RankEntry.category_id, RankEntry.position).in_(lowest))
            .group_by(RankEntry.category_id, RankEntry.position)
        )
    }


def new_best_until(site: Site, best: Observation | None) -> datetime | None:
    """Until when the badge says "New best!": ``best_flag_days`` after the best was reached.

    A time rather than a flag, so a cached document stays right as the days pass.
    """
    days = site.best_flag_days or 0
    if best is None or days <= 0:
        return None
    return best.observed_at + timedelta(days=days)


def rankings_document(site: Site, lang: str | None = None) -> dict[str, Any]:
    lang = lang or site.lang
    return {
        "site": site.slug,
        "categories": [
            {
                "key": s.category.key,
                "label": s.category.label(lang),
                "url": s.category.url,
                "current": s.current,
                "best": s.best,
                "entries": s.entries,
                "new_best_until": new_best_until(site, s.best),
            }
            for s in standings(site)
        ],
    }


@dataclass(frozen=True)
class RankEvent:
    """A rank event of a batch (``ranking.best``, ``ranking.recorded``), announced inside the
    batch's transaction; ``body`` is the whole webhook body, ``mail`` whether it is mailed."""

    site: Site
    body: dict[str, Any]
    mail: bool


class UnknownCategory(LookupError):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


def record_positions(
    site: Site, positions: dict[str, int], observed_at: datetime | None = None
) -> None:
    """Store every position in one transaction, or none; the same time again replaces it.

    The rank events of the batch (a new best, ``ranking.recorded``) join the outbox in the
    same transaction, so they are sent exactly when the positions are stored.
    """
    at = observed_at or utcnow()
    categories = {c.key: c for c in site.categories}
    unknown = sorted(k for k in positions if k not in categories)
    if unknown:
        raise UnknownCategory(unknown)
    rows = [
        {"category_id": categories[k].id, "position": p, "observed_at": at}
        for k, p in positions.items()
    ]
    announce_batch(site, rows, store_entries)
    bump_site(site.id)
    db.session.commit()


def store_entries(rows: list[dict[str, Any]]) -> None:
    """Insert rank entries in bulk; an existing (category, observed_at) takes the new position."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(RankEntry)
    statement = statement.on_conflict_do_update(
        index_elements=["category_id", "observed_at"],
        set_={"position": statement.excluded.position},
    )
    # A list of parameter sets: SQLAlchemy batches it into multi-row statements itself.
    db.session.execute(statement, rows)


def announce_batch(
    site: Site, rows: list[dict[str, Any]], store: Callable[[list[dict[str, Any]]], None]
) -> list[dict[str, Any]]:
    """Store one batch of entries with ``store`` and announce its rank events; returns them.

    A batch (one API call, ``rank set``, admin form or ``rank import``) sends at most one
    ``ranking.best`` per category: its best entry, when that beats the best before the
    batch. A category's first entry ever is a new best too (``previous_best`` null): it is
    the best rank so far, and the moment an author most wants to hear of.
    """
    ids = sorted({row["category_id"] for row in rows})
    if site.rank_events != "none" and ids:
        # The categories' rows, locked in id order: parallel batches (PostgreSQL) read the
        # best before them one after another, so one improvement is announced once.
        db.session.execute(
            select(Category.id).where(Category.id.in_(ids)).order_by(Category.id).with_for_update()
        )
    before = best_ranks(ids) if site.rank_events != "none" else {}
    store(rows)
    if site.rank_events == "none" or not rows:
        return []
    by_id = {c.id: c for c in site.categories}
    batch_best: dict[int, Observation] = {}
    latest: dict[int, Observation] = {}
    for row in rows:
        seen = Observation(row["position"], row["observed_at"])
        key = row["category_id"]
        best = batch_best.get(key)
        if best is None or (seen.position, seen.observed_at) < (best.position, best.observed_at):
            batch_best[key] = seen
        if key not in latest or seen.observed_at > latest[key].observed_at:
            latest[key] = seen
    bodies = []
    for key in ids:
        previous = before.get(key)
        reached = batch_best[key]
        if previous is not None and reached.position >= previous.position:
            continue
        bodies.append(
            {
                "event": "ranking.best",
                "site": site.slug,
                "category": _category_ref(by_id[key], site.lang),
                "position": reached.position,
                "previous_best": _observation(previous),
                "observed_at": _utc_text(reached.observed_at),
            }
        )
    if site.rank_events == "all":
        bodies.append(
            {
                "event": "ranking.recorded",
                "site": site.slug,
                "entries": len(rows),
                "categories": [
                    {
                        **_category_ref(by_id[key], site.lang),
                        "position": latest[key].position,
                        "observed_at": _utc_text(latest[key].observed_at),
                    }
                    for key in ids
                ],
            }
        )
    for body in bodies:
        events.announce(RankEvent(site, body, mail=body["event"] == "ranking.best"))
    return bodies


def _category_ref(category: Category, lang: str) -> dict[str, str]:
    return {"key": category.key, "label": category.label(lang)}


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _observation(seen: Observation | None) -> dict[str, Any] | None:
    if seen is None:
        return None
    return {"position": seen.position, "observed_at": _utc_text(seen.observed_at)}


def history(
    category: Category, since: datetime | None, until: datetime | None, limit: int
) -> list[RankEntry]:
    """The latest ``limit`` entries in the range, returned oldest first."""
    query = select(RankEntry).where(RankEntry.category_id == category.id)
    if since is not None:
        query = query.where(RankEntry.observed_at >= since)
    if until is not None:
        query = query.where(RankEntry.observed_at <= until)
    latest = db.session.scalars(query.order_by(RankEntry.observed_at.desc()).limit(limit)).all()
    return list(reversed(latest))


def delete_entry(category: Category, entry_id: int) -> None:
    """Remove a mistaken entry; current and best are derived, so they follow at once."""
    entry = db.session.get(RankEntry, entry_id)
    if entry is None or entry.category_id != category.id:
        abort(404, message=f"No entry {entry_id} in this category.")
    db.session.delete(entry)
    bump_site(category.site_id)
    db.session.commit()


def put_category(
    site: Site, key: str, labels: dict[str, str], url: Any = ..., order: int | None = None
) -> tuple[Category, bool]:
    """Create or update a category; returns it and whether it was created."""
    category = db.session.scalar(
        select(Category).where(Category.site_id == site.id, Category.key == key)
    )
    created = category is None
    if category is None:
        next_order = db.session.scalar(
            select(func.coalesce(func.max(Category.order) + 1, 0)).where(
                Category.site_id == site.id
            )
        )
        category = Category(site_id=site.id, key=key, order=next_order, url=None)
        db.session.add(category)
    category.labels = dict(labels)
    if url is not ...:
        category.url = url
    if order is not None:
        category.order = order
    bump_site(site.id)
    db.session.commit()
    db.session.refresh(site)
    return category, created


def delete_category(category: Category) -> None:
    db.session.execute(delete(RankEntry).where(RankEntry.category_id == category.id))
    db.session.delete(category)
    bump_site(category.site_id)
    db.session.commit()
