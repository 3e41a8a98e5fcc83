"""Status API shapes (api-contract §11.3, §11.4, §11.7): JSON with the contract's names, and the same data as
MessagePack positional arrays (index = key number). `positional(value, layout)` turns a JSON-named dict into its
array; layouts list the JSON names in key order, with nested layouts for sub-objects."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.events.models import CompetitorMetadata, Event, Session
from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition
from apps.timing.models import FlagPeriod

Layout = tuple  # of name | (name, sublayout, many)

SCHEDULE_ENTRY = ("d", "s", "e", "n")
SCHEDULE = ("n", ("s", SCHEDULE_ENTRY, True))
BROADCAST = ("c", "u")
SESSION = ("sid", "eid", "n", "st", "et", "tz", "lu", "il", "pq")
EVENT = ("e", "n", "d", "u", ("s", SESSION, True), "on", "ow", "l", ("sc", SCHEDULE, False), "t", "cc", "di",
         ("b", BROADCAST, False), "hc", "il", "isSimulation", "isArchived", "organizationId", "priv", "hn")
EVENT_SUMMARY = ("eid", "oid", "on", "en", "ed", "l", "t", ("s", SCHEDULE, False), "sim", "arch", "hasResults",
                 "priv", "hn")
FLAG_DURATION = ("f", "s", "e")
CONTROL_LOG_ENTRY = ("o", "t", "cor", "c1", "c1h", "c2", "c2h", "n", "s", "a", "on")
CAR_CONTROL_LOGS = ("cn", ("entries", CONTROL_LOG_ENTRY, True))
COMPETITOR = ("e", "n", "lu", "t", "t2", "cl", "fn", "ln", "ns", "s", "mk", "h", "c", "mo", "tr", "a")
ORGANIZATION_SUMMARY = ("id", "name", "website")
ORGANIZATION = ("id", "name", "shortName", "website", "logo")

_DATETIME_NAMES = frozenset({"st", "et", "lu", "s", "e", "t"})


def _maybe_datetime(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return wire.datetime_from_json(value)
        except ValueError:
            return value
    return value


def positional(value: Any, layout: Layout) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        return value
    out = []
    for item in layout:
        if isinstance(item, tuple):
            name, sub, many = item
            v = value.get(name)
            if v is not None:
                v = [positional(x, sub) for x in v] if many else positional(v, sub)
            out.append(v)
        else:
            v = value.get(item)
            out.append(_maybe_datetime(v) if item in _DATETIME_NAMES else v)
    return out


def positional_many(values: list, layout: Layout) -> list:
    return [positional(v, layout) for v in values]


def _dt(value: dt.datetime | None) -> str | None:
    return wire.datetime_to_json(value)


def _event_name(event: Event) -> str:
    return "" if event.hide_name else event.name


def _schedule(event: Event) -> dict | None:
    return event.schedule or None


def session_json(session: Session) -> dict[str, Any]:
    return {
        "sid": session.session_id, "eid": session.event_id, "n": session.name, "st": _dt(session.start_time),
        "et": _dt(session.end_time), "tz": session.local_time_zone_offset, "lu": _dt(session.last_updated),
        "il": session.is_live, "pq": session.is_practice_qualifying,
    }


def event_json(event: Event, sessions: list[Session]) -> dict[str, Any]:
    org = event.organization
    return {
        "e": event.pk, "n": _event_name(event), "d": event.start_date.isoformat(), "u": event.event_url,
        "s": [session_json(s) for s in sessions], "on": org.name, "ow": org.website or None, "l": None,
        "sc": _schedule(event), "t": event.track_name, "cc": event.course_configuration, "di": event.distance,
        "b": event.broadcast or None, "hc": bool(org.control_log_type), "il": event.is_live,
        "isSimulation": event.is_simulation, "isArchived": event.is_archived, "organizationId": org.pk,
        "priv": event.is_private, "hn": event.hide_name,
    }


def event_summary_json(event: Event, *, has_results: bool) -> dict[str, Any]:
    return {
        "eid": event.pk, "oid": event.organization_id, "on": event.organization.name, "en": _event_name(event),
        "ed": event.start_date.isoformat(), "l": event.is_live, "t": event.track_name, "s": _schedule(event),
        "sim": event.is_simulation, "arch": event.is_archived, "hasResults": has_results, "priv": event.is_private,
        "hn": event.hide_name,
    }


def flag_period_json(row: FlagPeriod) -> dict[str, Any]:
    return {"f": row.flag, "s": _naive_json(row.start_time), "e": _naive_json(row.end_time)}


def _naive_json(value: dt.datetime | None) -> str | None:
    # Flag times are track-local wall clock (stored labelled UTC): written back without a zone, as the engine does.
    if value is None:
        return None
    return wire.datetime_to_json(value.astimezone(dt.timezone.utc).replace(tzinfo=None))


def lap_car_json(car: dict[str, Any]) -> dict[str, Any]:
    """A stored lap (db-style CarPosition JSON) in the web names."""
    return wire.car_to_json(wire.car_from_json(car))


def lap_car_msgpack(car: dict[str, Any]) -> list[Any]:
    return wire.car_to_msgpack(wire.car_from_json(car))


def competitor_json(row: CompetitorMetadata) -> dict[str, Any]:
    return {
        "e": row.event_id, "n": row.car_number, "lu": _dt(row.last_updated), "t": row.transponder or 0,
        "t2": row.transponder2 or 0, "cl": row.car_class, "fn": row.first_name, "ln": row.last_name,
        "ns": row.nation_state, "s": row.sponsor, "mk": row.make, "h": row.hometown, "c": row.club,
        "mo": row.model_engine, "tr": row.tires, "a": row.email,
    }


def session_state_msgpack_array(state_json: dict[str, Any]) -> list[Any]:
    """A stored SessionState (web JSON) as its positional array."""
    return wire.unpackb(wire.session_to_msgpack(wire.session_from_json(state_json)))


__all__ = ["positional", "positional_many", "CarPosition"]
