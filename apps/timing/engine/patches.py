"""Patch helpers for the code that sends engine output to clients (the consolidator's job).

Patch semantics (§4.4): a field that is absent means "unchanged"; a patch can never set a
field back to null, so clearing uses "" / 0 / false. Lists are always sent whole.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["merge_session_patches", "merge_car_patches", "stamp", "drop_number_only"]


def merge_session_patches(patches: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """Field-wise "later wins" merge of JSON-named session patches."""
    out: dict[str, Any] = {}
    for p in patches:
        if p:
            out.update(p)
    return out or None


def merge_car_patches(batches: Iterable[Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Merge car patches of several passes into one per car (keyed by "n"), later wins."""
    by_number: dict[str, dict[str, Any]] = {}
    for batch in batches:
        for p in batch:
            n = p.get("n")
            if not n:
                continue  # the reference drops patches without a number
            cur = by_number.get(n)
            if cur is None:
                by_number[n] = dict(p)
            else:
                cur.update(p)
    return list(by_number.values())


def drop_number_only(car_patches: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(p) for p in car_patches if any(k != "n" for k in p)]


def stamp(session_patch: dict[str, Any] | None, car_patches: list[dict[str, Any]],
          event_id: int, session_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Add the ids every published patch carries (ints on the session, strings on cars)."""
    if session_patch is not None:
        session_patch = {**session_patch, "eventId": event_id, "sessionId": session_id}
    eid, sid = str(event_id), str(session_id)
    return session_patch, [{**p, "eid": eid, "sid": sid} for p in car_patches]
