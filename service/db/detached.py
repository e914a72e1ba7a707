"""ORM objects built from column values the caller already has, in no session.

The posting path reads its site and thread as one row of plain columns, and knows every
column of the comment it has just inserted. Building their objects through the ORM (a
session's load, or a constructor whose every attribute set fires an event) cost more than
the SQL. :func:`detached` builds the object as a load would, with every column loaded and
its identity key set, but tracked by no session: added to one, it is the persistent row it
stands for, never a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached

__all__ = ["attribute_keys", "detached", "detached_row"]


@cache
def attribute_keys(model: Any) -> tuple[str, ...]:
    """The model's column attributes in its table's column order, once its mappers are
    configured (a process that has run no ORM query yet has not instrumented them)."""
    configure_mappers()
    mapper = sa_inspect(model)
    return tuple(mapper.get_property_by_column(c).key for c in model.__table__.c)


def detached(model: Any, keys: Sequence[str], values: Sequence[Any]) -> Any:
    """An object of ``model`` as loaded from these attribute values, in no session."""
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(zip(keys, values, strict=True))
    make_transient_to_detached(instance)
    return instance


def detached_row(model: Any, values: Mapping[str, Any], **related: Any) -> Any:
    """An object of ``model`` for a row just written with these column values (a column
    not given is NULL, as the INSERT left it), with ``related`` objects set as loaded
    relationships (no backref, no event)."""
    keys = attribute_keys(model)
    unknown = values.keys() - set(keys)
    if unknown:
        raise ValueError(f"not columns of {model.__name__}: {sorted(unknown)}")
    instance = detached(model, keys, [values.get(key) for key in keys])
    instance.__dict__.update(related)
    return instance
