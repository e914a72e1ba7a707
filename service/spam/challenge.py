"""The invisible proof of work: ALTCHA challenges (the ``altcha`` package's v1 protocol),
signed with a per-site key derived from the server secret, and each solution accepted once.

A spent challenge is stored with its expiry (``UsedChallenge``) in its own short commit
before the comment is stored: the primary key makes a second use fail on every worker and
host at once. Expired rows are removed as new ones come, so the table stays small.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha
from flask_smorest import abort
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from service.core.crypto import keyed_hash
from service.core.extensions import db
from service.core.request_input import MalformedJson, load_json
from service.db.models import Site, UsedChallenge
from service.db.types import transaction_intent, utcnow

MAX_NUMBER = 50_000  # about 25,000 hashes on average: well under a second with WebCrypto
LIFETIME = timedelta(minutes=30)  # a reader has this long to write the comment
CHALLENGE_MODES = ("off", "pow")
MISSING = (
    "This comment could not be verified as sent from the page. Reload the page and send it again."
)
REUSED = "This comment was already sent. Reload the page to send another."
_FIELDS = {"algorithm": str, "challenge": str, "number": int, "salt": str, "signature": str}


def _key(site: Site) -> str:
    return keyed_hash("altcha", f"site:{site.id}")


def new_challenge(site: Site) -> dict[str, Any]:
    """A fresh challenge for the embed to solve while the reader types."""
    made = altcha.create_challenge_v1(
        hmac_key=_key(site),
        max_number=MAX_NUMBER,
        expires=datetime.now(UTC) + LIFETIME,
    )
    return {
        "algorithm": made.algorithm,
        "challenge": made.challenge,
        "maxnumber": made.max_number,
        "salt": made.salt,
        "signature": made.signature,
    }


def _payload(raw: str | None) -> dict[str, Any] | None:
    """The decoded solution when it has the protocol's shape, else None."""
    if not raw:
        return None
    try:  # the one loader: a payload nested thousands deep was a RecursionError (a 500)
        payload = load_json(base64.b64decode(raw, validate=True))
    except (MalformedJson, binascii.Error):
        return None
    if not isinstance(payload, dict) or set(payload) < set(_FIELDS):
        return None
    for name, kind in _FIELDS.items():
        value = payload[name]
        if not isinstance(value, kind) or isinstance(value, bool) or len(str(value)) > 512:
            return None
    if not 0 <= payload["number"] <= MAX_NUMBER or payload["algorithm"] != "SHA-256":
        return None
    return {name: payload[name] for name in _FIELDS}


def require_solution(site: Site, raw: str | None) -> None:
    """A 403 unless ``raw`` solves an unexpired challenge of this site not used before;
    then spend it."""
    payload = _payload(raw)
    if payload is None or not altcha.verify_solution_v1(payload, _key(site))[0]:
        abort(403, message=MISSING)
    now = utcnow()
    session = db.session()
    keep, session.expire_on_commit = session.expire_on_commit, False  # the site stays loaded
    try:
        session.commit()  # end the reading transaction before taking the write lock
        with transaction_intent(True):
            session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < now))
            spent = {"challenge": payload["challenge"], "expires_at": now + LIFETIME}
            try:
                session.execute(insert(UsedChallenge).values(**spent))
                session.commit()
            except IntegrityError:
                session.rollback()
                abort(403, message=REUSED)
    finally:
        session.expire_on_commit = keep
