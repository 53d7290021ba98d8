"""Idempotent create/adopt/update/delete of one owned LiveKit object (trunk or dispatch rule).

Exactly-one is kept by the ownership record in each object's metadata: when the ID in
status is missing or stale, the object is adopted, and extra copies (a crash between
create and status patch, twice) are deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from google.protobuf.message import Message

from switchboard.names import Owner, owned_by

M = TypeVar("M", bound=Message)
Action = Literal["created", "adopted", "updated", "unchanged", "recreated"]


@dataclass(frozen=True)
class ObjectOps(Generic[M]):
    """How to list/create/update/delete one kind of LiveKit object."""

    role: str
    fields: tuple[str, ...]
    id_of: Callable[[M], str]
    find: Callable[[list[str] | None], Awaitable[list[M]]]
    create: Callable[[M], Awaitable[M]]
    update: Callable[[str, M], Awaitable[M]]
    delete: Callable[[str], Awaitable[Any]]


@dataclass(frozen=True)
class Outcome:
    object_id: str
    action: Action
    drift: tuple[str, ...] = ()
    removed_duplicates: tuple[str, ...] = ()
    # An ID from status naming an object this owner does not own: left alone, not adopted.
    foreign: str | None = None


def drifted_fields(desired: Message, actual: Message, fields: tuple[str, ...]) -> list[str]:
    """Names of managed fields where LiveKit differs from the desired object.

    Values are never returned, only names: passwords are among the compared fields.
    """
    out = []
    for name in fields:
        want, have = getattr(desired, name), getattr(actual, name)
        if isinstance(want, Message):
            if want.SerializeToString(deterministic=True) != have.SerializeToString(
                deterministic=True
            ):
                out.append(name)
        elif hasattr(want, "items"):
            if dict(want) != dict(have):
                out.append(name)
        elif hasattr(want, "__len__") and not isinstance(want, str):
            if list(want) != list(have):
                out.append(name)
        elif want != have:
            out.append(name)
    return out


async def _owned(ops: ObjectOps[M], owner: Owner) -> list[M]:
    return sorted(
        (o for o in await ops.find(None) if owned_by(o.metadata, owner, ops.role)),  # type: ignore[attr-defined]
        key=ops.id_of,
    )


async def ensure(ops: ObjectOps[M], owner: Owner, desired: M, known_id: str | None) -> Outcome:
    """Make LiveKit hold exactly one object for (owner, role) equal to `desired`."""
    actual: M | None = None
    duplicates: list[M] = []
    foreign = None
    if known_id:
        found = await ops.find([known_id])
        actual = found[0] if found else None
        if actual is not None and not owned_by(actual.metadata, owner, ops.role):  # type: ignore[attr-defined]
            # status is user-writable: an ID there proves nothing; the metadata record does
            actual, foreign = None, known_id
    if actual is None:
        owned = await _owned(ops, owner)
        if owned:
            actual, duplicates = owned[0], owned[1:]
    for extra in duplicates:
        await ops.delete(ops.id_of(extra))
    removed = tuple(ops.id_of(d) for d in duplicates)

    if actual is None:
        created = await ops.create(desired)
        action: Action = "recreated" if known_id else "created"
        return Outcome(ops.id_of(created), action, (), removed, foreign)

    object_id = ops.id_of(actual)
    drift = drifted_fields(desired, actual, ops.fields)
    if drift:
        await ops.update(object_id, desired)
        return Outcome(object_id, "updated", tuple(drift), removed, foreign)
    adopted = known_id != object_id
    return Outcome(object_id, "adopted" if adopted else "unchanged", (), removed, foreign)


async def remove(ops: ObjectOps[M], owner: Owner) -> list[str]:
    """Delete everything owned by (owner, role), found by its metadata record.

    Not the ID in status: status is user-writable, and one naming someone else's object
    must not delete it. An owned object is listed whether or not status has its ID.
    """
    ids = {ops.id_of(o) for o in await _owned(ops, owner)}
    for object_id in sorted(ids):
        await ops.delete(object_id)
    return sorted(ids)
