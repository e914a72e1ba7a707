"""Delivering the notification outbox: signed webhooks and e-mails, with retries.

Webhooks are sent by ``webhooks``, e-mails by ``email``, each within one total deadline
(``delivery.Deadline``); ``Deliveries`` runs them in a small pool of threads with one queue
per destination (a site's webhook, a site's mail), so a slow endpoint delays only its own.

Rows are written by ``outbox`` in the comment's (or rank entries') own transaction; this
module sends them. Rank events (``ranking.best``, ``ranking.recorded``) are webhook rows
whose payload is the whole body, and ``email_rank`` rows for the notify address.

Who sends:

- **Each server process**, by default: every gunicorn worker of ``ranklet serve`` runs one
  daemon sender thread (``RANKLET_NOTIFY_WORKER``, default on). It starts in the worker,
  never in gunicorn's master (a thread does not survive a fork): ``service.server`` starts it
  when a worker loads the app, and ``create_app`` also starts it at a process's first
  request, for those who run ``gunicorn 'service:create_app()'`` themselves.
- **``ranklet worker``**, for those who prefer one separate process (set
  ``RANKLET_NOTIFY_WORKER=false`` on the servers then): a foreground loop, Ctrl-C stops it;
  ``--once`` does a single pass (for cron).

Any number of senders, on any number of hosts, can run at once: a row is claimed with a
conditional UPDATE (``status='queued'`` and no live claim) whose row count tells exactly one
sender that the row is its own for ``CLAIM_SECONDS``. A sender that dies mid-delivery leaves
the row to be claimed again when the claim lapses, so delivery is at-least-once: receivers
deduplicate by the comment id and event. Rows stay ``queued`` until delivered, so a restart
loses nothing. Failures are retried with exponential backoff (10 s, 20 s, 40 s ... capped at
15 minutes; 12 attempts over about 80 minutes), then the row is ``failed`` with its last
error. E-mail rows wait while this process has no ``RANKLET_SMTP_HOST``: another sender may.
A webhook aimed at a non-public address (``service.webhook_target``) fails at once, with the
reason, and is not retried: only a new URL or ``RANKLET_WEBHOOK_ALLOW_PRIVATE`` changes that.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import delete, or_, select, update

from service.core.extensions import db
from service.db.models import Notification, Site
from service.db.types import transaction_intent, utcnow
from service.notify import chat, confirmation, email, webhooks
from service.notify.delivery import DeliveryError, Send, Skip

log = logging.getLogger("ranklet.notifications")

CLAIM_SECONDS = 60  # longer than any one delivery may take (``delivery.DELIVERY_SECONDS``)
DELIVERY_THREADS = 4  # destinations served at once by one sender
MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 15 * 60
POLL_SECONDS = 2.0
BUSY_POLL_SECONDS = 0.25  # while deliveries run: new rows of other destinations go soon
ERROR_PAUSE_SECONDS = 15.0
KEEP_DONE = timedelta(days=7)  # delivered payloads hold comment text: keep them briefly
KEEP_FAILED = timedelta(days=30)
EMAIL_KINDS = ("email_author", "email_reply", "email_rank", "email_confirm")


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s ... at most 15 min."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


# --- one pass -----------------------------------------------------------------------------


Destination = tuple[str, int]  # ("webhook", "chat" or "mail", site id): one queue each
OWN_CHANNEL_KINDS = ("webhook", "chat")  # every other kind is mail


def destination(kind: str, site_id: int) -> Destination:
    return (kind if kind in OWN_CHANNEL_KINDS else "mail", site_id)


def _due(now: datetime, limit: int, busy: set[Destination]) -> dict[Destination, list[int]]:
    """Due rows by destination, oldest first, leaving out the destinations being served."""
    query = (
        select(Notification.id, Notification.kind, Notification.site_id)
        .where(
            Notification.status == "queued",
            Notification.next_attempt_at <= now,
            or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if not current_app.config.get("SMTP_HOST"):
        query = query.where(Notification.kind.not_in(EMAIL_KINDS))
    for channel in (*OWN_CHANNEL_KINDS, "mail"):
        sites = [site for kind, site in busy if kind == channel]
        if sites:
            channel_rows = (
                Notification.kind == channel
                if channel in OWN_CHANNEL_KINDS
                else Notification.kind.not_in(OWN_CHANNEL_KINDS)
            )
            query = query.where(~(channel_rows & Notification.site_id.in_(sites)))
    found: dict[Destination, list[int]] = {}
    for notification_id, kind, site_id in db.session.execute(query):
        found.setdefault(destination(kind, site_id), []).append(notification_id)
    db.session.rollback()  # end the read before any delivery; never hold a transaction open
    return found


def _claim(notification_id: int, now: datetime) -> bool:
    """Take one row for CLAIM_SECONDS; False when another sender was first."""
    with transaction_intent(True):
        claimed = db.session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "queued",
                Notification.next_attempt_at <= now,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
            )
            .values(
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
                attempts=Notification.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    return claimed == 1


def _record(notification_id: int, values: dict[str, Any]) -> None:
    """The outcome of an attempt; a row another sender finished meanwhile stays as it is."""
    with transaction_intent(True):
        db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == "queued")
            .values(claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def deliver_due(limit: int = 20, now: datetime | None = None) -> int:
    """One pass over due rows: claim, deliver, record. Returns how many were delivered.

    ``now`` (default: the clock) decides what is due; tests pass a later one to reach a
    retry without waiting for it. Each row gets its own short transactions, and none is
    open during a network call; call it with no pending changes in the session. It waits
    for the pass's deliveries (``Deliveries`` runs them side by side).
    """
    return _pass(limit, now)[1]


def _pass(limit: int, now: datetime | None = None) -> tuple[int, int]:
    """(rows taken, rows delivered) of one pass, waited for."""
    deliveries = Deliveries(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        turns = deliveries.start(limit, now)
        results = [turn.result() for turn in turns]
    finally:
        deliveries.close()
    return sum(taken for taken, _ in results), sum(done for _, done in results)


class Deliveries:
    """A small pool of delivery threads, one destination's rows in order in one of them.

    A destination is a site's webhook, or a site's mail: while one is being served (a slow
    endpoint may take up to the deadline per row) its rows are left out of the next passes,
    and the other destinations go on in the other threads. One sender used to deliver row
    after row, so one site's trickling endpoint held every site's mail for minutes.
    """

    def __init__(self, app: Flask, workers: int = DELIVERY_THREADS) -> None:
        self.app = app
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ranklet-delivery")
        self.busy: set[Destination] = set()
        self.lock = threading.Lock()

    def start(self, limit: int, now: datetime | None = None) -> list[Future[tuple[int, int]]]:
        """Start serving due destinations in free threads; each future gives (taken,
        delivered). Runs in an app context (the sender's or the caller's)."""
        with self.lock:
            busy = set(self.busy)
        room = self.workers - len(busy)
        if room <= 0:
            return []
        clock = now or utcnow()
        turns = []
        for where, ids in list(_due(clock, limit, busy).items())[:room]:
            with self.lock:
                self.busy.add(where)
            turns.append(self.pool.submit(self._serve, where, ids, clock, now))
        return turns

    def _serve(
        self, where: Destination, ids: list[int], clock: datetime, now: datetime | None
    ) -> tuple[int, int]:
        taken = delivered = 0
        try:
            with self.app.app_context():
                for notification_id in ids:
                    if _claim(notification_id, clock):
                        taken += 1
                        delivered += _attempt(notification_id, now)
                db.session.remove()
        finally:
            with self.lock:
                self.busy.discard(where)
        return taken, delivered

    def close(self, wait: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)


def _attempt(notification_id: int, now: datetime | None) -> int:
    """Deliver one claimed row and record the outcome; 1 when it was delivered."""
    try:
        send = _prepare(notification_id)
        db.session.rollback()  # no transaction stays open during the network call
        send()
    except Skip as skipped:
        db.session.rollback()
        _record(notification_id, {"status": "done", "done_at": utcnow(), "last_error": None})
        log.info("notification %s skipped: %s", notification_id, skipped)
        return 0
    except Exception as error:  # any failure of one delivery is retried
        db.session.rollback()
        _failed(notification_id, error, now)
        return 0
    _record(notification_id, {"status": "done", "done_at": utcnow(), "last_error": None})
    return 1


def _failed(notification_id: int, error: Exception, now: datetime | None) -> None:
    message = (str(error) or type(error).__name__)[:500]
    attempts = db.session.scalar(
        select(Notification.attempts).where(Notification.id == notification_id)
    )
    db.session.rollback()
    permanent = isinstance(error, DeliveryError) and error.permanent
    if permanent or (attempts or 0) >= MAX_ATTEMPTS:
        _record(notification_id, {"status": "failed", "last_error": message})
        log.warning("notification %s failed for good: %s", notification_id, message)
        return
    retry_at = (now or utcnow()) + retry_delay(attempts or 1)
    _record(notification_id, {"next_attempt_at": retry_at, "last_error": message})
    log.info(
        "notification %s failed (attempt %s), retry at %s: %s",
        notification_id,
        attempts,
        retry_at.isoformat(),
        message,
    )


def prune(now: datetime | None = None) -> int:
    """Forget delivered rows after KEEP_DONE and failed ones after KEEP_FAILED."""
    clock = now or utcnow()
    with transaction_intent(True):
        removed = db.session.execute(
            delete(Notification).where(
                or_(
                    (Notification.status == "done") & (Notification.done_at < clock - KEEP_DONE),
                    (Notification.status == "failed")
                    & (Notification.created_at < clock - KEEP_FAILED),
                )
            )
        ).rowcount
        db.session.commit()
    return int(removed or 0)


# --- preparing a delivery -----------------------------------------------------------------


def _prepare(notification_id: int) -> Send:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        raise Skip("the row is gone")
    site = db.session.get(Site, notification.site_id)
    if site is None:
        raise Skip("the site is gone")
    if notification.kind == "webhook":
        return webhooks.prepare_webhook(site, notification.payload)
    if notification.kind == "email_author":
        return email.prepare_author_email(site, notification.payload)
    if notification.kind == "email_reply":
        return email.prepare_reply_email(site, notification.payload)
    if notification.kind == "email_rank":
        return email.prepare_rank_email(site, notification.payload)
    if notification.kind == "email_confirm":
        return confirmation.prepare_confirm_email(site, notification.payload)
    if notification.kind == "chat":
        return chat.prepare_chat(site, notification.payload)
    raise DeliveryError(f"unknown kind {notification.kind!r}", permanent=True)


# --- the loop -----------------------------------------------------------------------------


class Sender:
    """Delivers the outbox until stopped: a daemon thread, or the ``ranklet worker`` loop."""

    def __init__(self, app: Flask, batch: int = 20) -> None:
        self.app = app
        self.batch = batch
        self.stopping = threading.Event()
        self.pid = os.getpid()
        self._next_prune = 0.0
        self.thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, int]:
        """One pass, waited for (``ranklet worker --once``)."""
        with self.app.app_context():
            self._prune()
            return _pass(self.batch)

    def _prune(self) -> None:
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 3600
            prune()

    def run(self) -> None:
        """Loop until ``stop()``: start what is due in free delivery threads, look again
        soon while some are busy, else after a pause."""
        deliveries = Deliveries(self.app)
        try:
            while not self.stopping.is_set():
                pause = POLL_SECONDS
                try:
                    with self.app.app_context():
                        self._prune()
                        if deliveries.start(self.batch) or deliveries.busy:
                            pause = BUSY_POLL_SECONDS
                except Exception:  # the database may be down: log, pause, try again
                    log.exception("the notification sender failed; retrying shortly")
                    pause = ERROR_PAUSE_SECONDS
                self.stopping.wait(pause)
        finally:
            deliveries.close(wait=True)  # deliveries in flight end by their deadline

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="ranklet-sender", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)


_START_LOCK = threading.Lock()


def sender_enabled(app: Flask) -> bool:
    """``RANKLET_NOTIFY_WORKER`` (true by default); never under TESTING."""
    value = app.config.get("NOTIFY_WORKER")
    if isinstance(value, str):
        value = value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value) and not app.config.get("TESTING")


def start_sender(app: Flask) -> Sender | None:
    """Start this process's sender thread once, if configured; safe to call repeatedly.

    Keyed by process id, so an app object inherited through a fork starts its own thread.
    """
    if not sender_enabled(app):
        return None
    with _START_LOCK:
        current = app.extensions.get("ranklet_sender")
        if isinstance(current, Sender) and current.pid == os.getpid():
            return current
        sender = Sender(app)
        app.extensions["ranklet_sender"] = sender
        sender.start()
        return sender


def init_app(app: Flask) -> None:
    """Start the sender lazily at a process's first request (never in a forking master)."""
    if not sender_enabled(app):
        return

    @app.before_request
    def _ensure_sender() -> None:
        current = app.extensions.get("ranklet_sender")
        if not (isinstance(current, Sender) and current.pid == os.getpid()):
            start_sender(app)
