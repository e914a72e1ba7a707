"""The data model: sites, rankings, comment threads, likes and the notification outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sa_text
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.core.extensions import db
from service.db.types import UtcDateTime, utcnow

LANGS = ("ja", "en")
MODERATION_MODES = ("none", "all")
COMMENT_STATUSES = ("approved", "pending", "spam", "deleted")
# Which rank events a site sends: new bests only (the default), every batch too, or none.
RANK_EVENTS = ("best", "all", "none")
# The partial index's condition (literal values: SQLite uses a partial index only for a
# query that repeats them, not for bound parameters).
UNCONFIRMED = "spam_label = 'ham' AND spam_step IS NULL AND status = 'approved'"


def only_where(condition: str) -> dict[str, Any]:
    """An index's keywords for holding only the rows that meet ``condition``, on SQLite and
    PostgreSQL alike."""
    return {"sqlite_where": sa_text(condition), "postgresql_where": sa_text(condition)}


class Site(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    lang: Mapped[str] = mapped_column(String(2), default="ja")
    # An IANA name for the times the admin shows; None follows the language (sites.py).
    timezone: Mapped[str | None] = mapped_column(String(64))
    moderation: Mapped[str] = mapped_column(String(8), default="none")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    # Needed in clear to sign deliveries, so it is encrypted with the data key instead.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    notify_email_encrypted: Mapped[str | None] = mapped_column(Text)
    notify_pending: Mapped[bool] = mapped_column(Boolean, default=True)
    banned_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    rank_events: Mapped[str] = mapped_column(String(8), default="best", server_default="best")
    # Days the badge says "New best!" after a new best; 0 never.
    best_flag_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    # Spam guards (issue 19): regular expressions that store a match as spam, the learning
    # filter's threshold (a score above it is held as spam), and the proof of work (pow|off).
    spam_patterns: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    spam_threshold: Mapped[float] = mapped_column(Float, default=0.95, server_default="0.95")
    # ``auto`` (True, the default): the threshold is learned from the site's own ham
    # (``service.spam.scoring.learned_threshold``), ``spam_threshold`` applying until then.
    spam_threshold_auto: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=sa_true()
    )
    challenge: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    # Chat channels (LINE, Slack, Discord, Telegram): one JSON object of tokens and webhook
    # URLs, encrypted with the data key like the webhook secret; shown to nobody again.
    chat_encrypted: Mapped[str | None] = mapped_column(Text)
    # Bumped with every change to any comment of the site (the recent-comments list).
    comments_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # How many commenters the site blocks (its rows of spam_blocks), recounted by
    # ``service.spam.blocks`` in each transaction that adds or removes one: read with the site
    # by the query a post makes anyway, it spares the blocked-commenter lookup when it is 0.
    blocked_commenters: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every change to settings, categories or rankings: ETags of rankings, badges
    # and widgets derive from it, so a 304 costs one indexed lookup and no rendering.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    categories: Mapped[list[Category]] = relationship(
        back_populates="site", order_by="(Category.order, Category.id)", cascade="all, delete"
    )


class Category(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("site_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(32))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    url: Mapped[str | None] = mapped_column(String(2048))
    order: Mapped[int] = mapped_column(Integer, default=0)

    site: Mapped[Site] = relationship(back_populates="categories")

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels.get("en") or self.labels.get("ja") or self.key


class RankEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "rank_entries"
    __table_args__ = (
        UniqueConstraint("category_id", "observed_at"),
        # best rank: the lowest position, earliest first
        Index("ix_rank_entries_best", "category_id", "position", "observed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Thread(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("site_id", "article"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    article: Mapped[str] = mapped_column(String(512))
    title: Mapped[str | None] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(2048))
    # Approved comments, replies included: kept in the same transaction as every change,
    # so counts for many articles are one indexed lookup, never a scan of the comments.
    approved_count: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every change to the thread; ETags of thread reads derive from it.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Comment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_thread_top", "thread_id", "depth", "status", "created_at", "id"),
        Index("ix_comments_root", "root_id", "created_at"),
        # Partial where the column is usually NULL (a top-level comment, no e-mail, not
        # imported): a post writes no entry in them, and every query that uses them compares
        # the column, which implies IS NOT NULL, so the planner still picks them.
        Index(
            "ix_comments_parent",
            "parent_id",
            "status",
            **only_where("parent_id IS NOT NULL"),
        ),
        Index("ix_comments_moderation", "site_id", "status", "id"),
        Index(
            "ix_comments_email_lookup",
            "site_id",
            "email_lookup",
            **only_where("email_lookup IS NOT NULL"),
        ),
        Index("ix_comments_site_created", "site_id", "status", "created_at"),
        Index("ix_comments_pinned", "thread_id", "pinned_at"),
        # Published comments the spam filter's linear half has not learned yet: what the
        # author's next moderation confirms (``service.spam.model``).
        Index(
            "ix_comments_unconfirmed",
            "site_id",
            "id",
            **only_where(UNCONFIRMED),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    # The top-level comment of this one's tree (itself for a top-level comment), so one
    # query fetches the replies of a whole page of top-level comments.
    root_id: Mapped[int | None] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer, default=1)
    author: Mapped[str | None] = mapped_column(String(64))
    website: Mapped[str | None] = mapped_column(String(256))
    email_encrypted: Mapped[str | None] = mapped_column(Text)
    # Keyed hash of the normalized address: finds one person's comments for erasure and
    # export without storing the address in clear.
    email_lookup: Mapped[str | None] = mapped_column(String(64))
    avatar: Mapped[str] = mapped_column(String(32))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="approved")
    is_author: Mapped[bool] = mapped_column(Boolean, default=False)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    edit_token_hash: Mapped[str | None] = mapped_column(String(64))
    # Where the comment came from, for idempotent imports ("isso:12", "disqus:345").
    source_key: Mapped[str | None] = mapped_column(String(128))
    # The learning filter's score when it was posted (None: not scored), the class the
    # filter has learned this comment as (None; "ham": published; "good": approved or restored
    # by the author; "spam": moving it un-learns the old one), and the keyed hash of the
    # poster's address (for "block this commenter").
    spam_score: Mapped[float | None] = mapped_column(Float)
    spam_label: Mapped[str | None] = mapped_column(String(4))
    # The step the filter's linear half learned this comment with (None: not in it: not
    # labelled, or published and not yet confirmed by the author's later moderation).
    spam_step: Mapped[float | None] = mapped_column(Double)
    client_lookup: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set when the author pins this top-level comment: pinned ones lead, newest pin first.
    pinned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    thread: Mapped[Thread] = relationship()


Index(
    "ix_comments_source",
    Comment.site_id,
    Comment.source_key,
    unique=True,
    **only_where("source_key IS NOT NULL"),
)


def owner_key(target: str) -> Any:
    """A primary-key column that is its owner's id: the row goes when its owner goes."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), primary_key=True)


class Like(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "likes"

    comment_id: Mapped[int] = owner_key("comments.id")
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """The outbox: written in the comment's transaction, delivered later with retries."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # webhook | email_author | email_reply | email_rank
    kind: Mapped[str] = mapped_column(String(16))
    # Encrypted with the data key when it holds an address (e-mail kinds).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UsedLink(db.Model):  # type: ignore[name-defined,misc]
    """Nonces of one-use links (approve/delete from an e-mail) that have been used."""

    __tablename__ = "used_links"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Unsubscribe(db.Model):  # type: ignore[name-defined,misc]
    """Readers who asked for no more reply e-mails, by keyed hash of their address."""

    __tablename__ = "unsubscribes"

    site_id: Mapped[int] = owner_key("sites.id")
    email_lookup: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SpamCount(db.Model):  # type: ignore[name-defined,misc]
    """The learning filter of one site: per hashed feature bucket, how many ham and spam
    comments had it (bucket -1 counts the comments themselves), and its linear weight.
    Changed only by atomic ``INSERT ... ON CONFLICT DO UPDATE SET n = n + d``, so workers
    never lose an update."""

    __tablename__ = "spam_counts"

    site_id: Mapped[int] = owner_key("sites.id")
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ham: Mapped[int] = mapped_column(Integer, default=0)
    spam: Mapped[int] = mapped_column(Integer, default=0)
    # The linear weight of the bucket, in units of 2^-24 (``scoring.FIXED_ONE``): integers,
    # so concurrent additions in any order give the same sum.
    weight: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SpamBlock(db.Model):  # type: ignore[name-defined,misc]
    """A blocked commenter: the keyed hash of a client address or an e-mail, never the value."""

    __tablename__ = "spam_blocks"
    __table_args__ = (UniqueConstraint("site_id", "kind", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # client | email
    digest: Mapped[str] = mapped_column(String(64))
    # What the author saw when blocking (the comment's name and id), to recognise it later.
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UsedChallenge(db.Model):  # type: ignore[name-defined,misc]
    """Proof-of-work challenges already spent, kept until they expire: one post per solution,
    across every worker and host."""

    __tablename__ = "used_challenges"

    challenge: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ConfirmedAddress(db.Model):  # type: ignore[name-defined,misc]
    """Readers' addresses confirmed for reply e-mails (double opt-in), by keyed hash.

    ``confirmed_at`` is NULL while the confirmation mail is out: one mail per address, so
    nobody can make Ranklet mail a stranger twice by posting again."""

    __tablename__ = "confirmed_addresses"

    site_id: Mapped[int] = owner_key("sites.id")
    email_lookup: Mapped[str] = mapped_column(String(64), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AdminSession(db.Model):  # type: ignore[name-defined,misc]
    """A signed-in author's session, kept on the server: signing out deletes the row, so a
    copy of the cookie stops working at once. The cookie holds the id, this row its hash."""

    __tablename__ = "admin_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
