"""Reads for the status API and the viewer socket: event access (private events and access codes)."""

from __future__ import annotations

import enum

from django.core.cache import cache

from apps.events.models import Event

ACCESS_DENIED_MESSAGE = "Access code required or invalid for this event."
ACCESS_CACHE_SECONDS = 60


class Access(enum.Enum):
    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"


def access_cache_key(event_id: int) -> str:
    return f"evt-{event_id}-access"


def event_privacy_get(*, event_id: int) -> tuple[bool, str] | None:
    """(is_private, access_code) of a visible event, or None when it does not exist or is deleted. Cached."""
    key = access_cache_key(event_id)
    cached = cache.get(key)
    if cached is None:
        row = (Event.objects.visible().filter(pk=event_id)
               .values_list("is_private", "access_code", "organization_id", "is_live").first())
        cached = ("missing",) if row is None else ("event", bool(row[0]), row[1] or "", row[2], bool(row[3]))
        cache.set(key, cached, ACCESS_CACHE_SECONDS)
    return None if cached[0] == "missing" else (cached[1], cached[2])


def event_facts_get(*, event_id: int) -> dict | None:
    """Cached facts about a visible event: organization_id, is_live (None when missing or deleted)."""
    event_privacy_get(event_id=event_id)
    cached = cache.get(access_cache_key(event_id))
    if cached is None or cached[0] == "missing":
        return None
    return {"organization_id": cached[3], "is_live": cached[4]}


def event_access_check(*, event_id: int, access_code: str | None) -> Access:
    """Public events pass; a private one needs its exact code (a private event without a code denies everyone).
    Event ids ≤ 0 skip the check, as the reference hub does."""
    if event_id <= 0:
        return Access.OK
    privacy = event_privacy_get(event_id=event_id)
    if privacy is None:
        return Access.NOT_FOUND
    is_private, code = privacy
    if not is_private:
        return Access.OK
    if code and access_code is not None and str(access_code) == code:
        return Access.OK
    return Access.DENIED


# ---------------------------------------------------------------- two-level cache for the status API
#
# Keys carry a generation per scope (one per event, one for the event lists, one per organization). A change to
# the data bumps the generation (signals in apps.events.signals_status), so old entries are simply never read
# again. Level 1 is this process's memory, level 2 the Django cache (Redis in the distributed mode).

import hashlib  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import OrderedDict  # noqa: E402
from typing import Any, Callable  # noqa: E402

from django.conf import settings  # noqa: E402

L1_MAX_ENTRIES = 2048
LIVE_TTL_SECONDS = 5  # data the timing worker writes in bulk (laps, flags) while an event is live
_l1: "OrderedDict[str, tuple[float, Any]]" = OrderedDict()
_l1_lock = threading.Lock()


def _gen_key(scope: str) -> str:
    return f"status-gen:{scope}"


def status_generation(*, scope: str) -> int:
    value = cache.get(_gen_key(scope))
    if value is None:
        value = time.time_ns()
        cache.add(_gen_key(scope), value, None)
        value = cache.get(_gen_key(scope), value)
    return value


def status_cache_bump(*, event_id: int | None = None, organization_id: int | None = None) -> None:
    """Invalidate what the status API cached for an event (and the event lists), or for an organization."""
    scopes = ["lists"]
    if event_id is not None:
        scopes.append(f"evt:{event_id}")
    if organization_id is not None:
        scopes.append(f"org:{organization_id}")
    for scope in scopes:
        cache.set(_gen_key(scope), time.time_ns(), None)
    if event_id is not None:
        cache.delete(access_cache_key(event_id))


def l1_clear() -> None:
    with _l1_lock:
        _l1.clear()


def _l1_get(key: str) -> Any:
    with _l1_lock:
        hit = _l1.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del _l1[key]
            return None
        _l1.move_to_end(key)
        return hit[1]


def _l1_set(key: str, value: Any, ttl: float) -> None:
    with _l1_lock:
        _l1[key] = (time.monotonic() + ttl, value)
        _l1.move_to_end(key)
        while len(_l1) > L1_MAX_ENTRIES:
            _l1.popitem(last=False)


def status_cached(*, name: str, scopes: list[str], build: Callable[[], tuple[Any, Any]], ttl: int | None = None,
                  stats: dict | None = None):
    """A `Rendered` body for `name`, from level 1, level 2, or `build()` -> (json data, msgpack data)."""
    import json

    import msgpack

    from redmist.renderers import Rendered

    ttl = ttl or settings.CACHE_TTL_SECONDS
    gens = ".".join(str(status_generation(scope=s)) for s in scopes)
    key = f"status:{name}:{gens}"
    hit = _l1_get(key)
    if hit is not None:
        if stats is not None:
            stats["level"] = 1
        return hit
    hit = cache.get(key)
    if hit is not None:
        if stats is not None:
            stats["level"] = 2
        _l1_set(key, hit, ttl)
        return hit
    json_data, msgpack_data = build()
    body = json.dumps(json_data, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    packed = msgpack_data if isinstance(msgpack_data, bytes) else msgpack.packb(
        msgpack_data, use_bin_type=True, datetime=False, default=_msgpack_default)
    rendered = Rendered(json=body, msgpack=packed, etag=hashlib.sha256(body).hexdigest()[:32], modified=time.time())
    cache.set(key, rendered, ttl)
    _l1_set(key, rendered, ttl)
    if stats is not None:
        stats["level"] = 0
    return rendered


def _msgpack_default(value):
    import datetime as dt

    import msgpack

    if isinstance(value, dt.datetime):
        return msgpack.Timestamp.from_datetime(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    return str(value)


# ---------------------------------------------------------------- status API reads

from django.db.models import Exists, OuterRef, Q  # noqa: E402

from apps.events.models import CompetitorMetadata, Session, SessionResult  # noqa: E402

RECENT_EVENTS = 25


def _with_results(qs):
    return qs.select_related("organization").annotate(
        has_results=Exists(SessionResult.objects.filter(event=OuterRef("pk"))))


def events_live_list() -> list[Event]:
    return list(_with_results(Event.objects.visible().filter(is_active=True, is_live=True)).order_by("-start_date", "pk"))


def events_live_and_recent_list() -> list[Event]:
    live = events_live_list()
    recent = _with_results(Event.objects.visible().filter(is_archived=False).exclude(pk__in=[e.pk for e in live]))
    return live + list(recent.order_by("-start_date", "-pk")[:RECENT_EVENTS])


def events_archived_list(*, offset: int, take: int) -> list[Event]:
    qs = _with_results(Event.objects.visible().filter(is_archived=True)).order_by("-start_date", "-pk")
    return list(qs[offset:offset + take])


def events_since_list(*, start_date) -> list[Event]:
    return list(Event.objects.visible().filter(start_date__gte=start_date).select_related("organization")
                .order_by("start_date", "pk"))


def event_get(*, event_id: int) -> Event | None:
    return Event.objects.visible().select_related("organization").filter(pk=event_id).first()


def sessions_shown_list(*, event_id: int) -> list[Session]:
    """Sessions with something to show: live, or with a result, or with at least one lap (api-contract §3.3)."""
    from apps.timing.models import CarLap

    laps = CarLap.objects.filter(session=OuterRef("pk"))
    return list(Session.objects.filter(event_id=event_id).filter(
        Q(is_live=True) | Q(result__isnull=False) | Exists(laps)).order_by("start_time", "pk"))


def session_get(*, event_id: int, session_id: int) -> Session | None:
    return Session.objects.filter(event_id=event_id, session_id=session_id).first()


def session_result_get(*, event_id: int, session_id: int) -> SessionResult | None:
    return SessionResult.objects.filter(event_id=event_id, session__session_id=session_id).first()


def car_laps_list(*, event_id: int, session_id: int, car_number: str | None = None) -> list[dict]:
    from apps.timing.models import CarLap

    rows = CarLap.objects.filter(event_id=event_id, session__session_id=session_id, lap_number__gt=0)
    if car_number is not None:
        rows = rows.filter(car_number=car_number)
    return [row.car for row in rows.order_by("car_number", "lap_number").only("car")]


def flag_periods_list(*, event_id: int, session_id: int):
    from apps.timing.models import FlagPeriod

    return list(FlagPeriod.objects.filter(event_id=event_id, session__session_id=session_id).order_by("start_time"))


def competitor_get(*, event_id: int, car_number: str) -> CompetitorMetadata | None:
    return CompetitorMetadata.objects.filter(event_id=event_id, car_number=car_number).first()


def competitors_list(*, event_id: int) -> list[CompetitorMetadata]:
    return list(CompetitorMetadata.objects.filter(event_id=event_id).order_by("car_number"))
