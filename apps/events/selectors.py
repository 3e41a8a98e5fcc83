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
        row = Event.objects.visible().filter(pk=event_id).values_list("is_private", "access_code").first()
        cached = ("missing",) if row is None else ("event", bool(row[0]), row[1] or "")
        cache.set(key, cached, ACCESS_CACHE_SECONDS)
    return None if cached[0] == "missing" else (cached[1], cached[2])


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
