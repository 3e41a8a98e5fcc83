"""Writes for events and sessions."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from apps.events.models import Event, Session
from apps.orgs.models import Organization


def event_create(*, organization: Organization, name: str, start_date: dt.date, end_date: dt.date | None = None, **fields) -> Event:
    event = Event(organization=organization, name=name, start_date=start_date, end_date=end_date or start_date, **fields)
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def session_upsert(
    *,
    event: Event,
    session_id: int,
    name: str,
    start_time: dt.datetime,
    local_time_zone_offset: float = 0.0,
    is_practice_qualifying: bool = False,
) -> Session:
    """The relay announces sessions by the timing system's id; the same id again updates the row."""
    session, _ = Session.objects.update_or_create(
        event=event,
        session_id=session_id,
        defaults={
            "name": name[:64],
            "start_time": start_time,
            "local_time_zone_offset": local_time_zone_offset,
            "is_practice_qualifying": is_practice_qualifying,
            "is_live": True,
        },
    )
    return session
