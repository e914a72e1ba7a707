"""A JSON export's categories and rank history, merged into the site: categories by key,
history entries by observation time (one already there is not added again)."""

from __future__ import annotations

from sqlalchemy import select

from service.core.extensions import db
from service.db.models import Category, RankEntry, Site
from service.http.caching import bump_site
from service.transfer.items import ImportSummary, IncomingCategory


def import_categories(
    site: Site, categories: list[IncomingCategory], summary: ImportSummary
) -> None:
    existing = {c.key: c for c in site.categories}
    next_order = max((c.order for c in existing.values()), default=-1) + 1
    for incoming in categories:
        category = existing.get(incoming.key)
        if category is None:
            category = Category(site_id=site.id, key=incoming.key, order=next_order)
            next_order += 1
            db.session.add(category)
            summary.categories_created += 1
        elif (
            category.labels != dict(incoming.labels)
            or category.url != incoming.url
            or (incoming.order is not None and category.order != incoming.order)
        ):
            summary.categories_updated += 1  # only what changed: a re-run reports none
        else:
            summary.categories_unchanged += 1
        category.labels = dict(incoming.labels)
        category.url = incoming.url
        if incoming.order is not None:
            category.order = incoming.order
        db.session.flush()
        present = set(
            db.session.scalars(
                select(RankEntry.observed_at).where(RankEntry.category_id == category.id)
            )
        )
        for entry in incoming.history:
            if entry.observed_at in present:
                summary.history_present += 1
                continue
            present.add(entry.observed_at)
            db.session.add(
                RankEntry(
                    category_id=category.id,
                    position=entry.position,
                    observed_at=entry.observed_at,
                )
            )
            summary.history_added += 1
    bump_site(site.id)
