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


# --- management (issue 7): update, one active event per organization, soft delete ---------------------------

EVENT_UPDATABLE_FIELDS = (
    "name", "start_date", "end_date", "is_active", "event_url", "schedule", "enable_source_data_logging",
    "track_name", "course_configuration", "distance", "broadcast", "loops_metadata", "is_simulation",
    "is_archived", "is_private", "hide_name", "access_code",
)


@transaction.atomic
def event_update(*, event: Event, **changes) -> Event:
    unknown = set(changes) - set(EVENT_UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
    for attr, value in changes.items():
        setattr(event, attr, value)
    if not event.is_private:
        event.access_code = ""
    event.full_clean()
    event.save()
    if changes.get("is_active"):
        Event.objects.filter(organization_id=event.organization_id, is_active=True).exclude(pk=event.pk).update(
            is_active=False
        )
    if "loops_metadata" in changes:
        transaction.on_commit(lambda: event_config_changed_notify(event_id=event.pk))
    return event


def event_config_changed_notify(*, event_id: int) -> None:
    """Tell the event's timing worker, through its ingest stream, to reload the event's configuration."""
    from apps.relay.bus import NO_SESSION, BusMessage, bus_append_sync

    bus_append_sync(event_id=event_id, message=BusMessage(kind="evtconfchanged", session_id=NO_SESSION,
                                                          payload=str(event_id)))


@transaction.atomic
def event_activate(*, event: Event) -> Event:
    """Make this the organization's one active event (the relay streams to it)."""
    Event.objects.filter(organization_id=event.organization_id, is_active=True).exclude(pk=event.pk).update(
        is_active=False
    )
    Event.objects.filter(pk=event.pk).update(is_active=True)
    event.is_active = True
    return event


@transaction.atomic
def event_soft_delete(*, event: Event) -> None:
    """Hide the event everywhere. If it was the active one, the newest remaining event becomes active."""
    was_active = event.is_active
    Event.objects.filter(pk=event.pk).update(is_deleted=True, is_active=False)
    event.is_deleted, event.is_active = True, False
    if was_active:
        newest = Event.objects.visible().filter(organization_id=event.organization_id).order_by(
            "-start_date", "-id").first()
        if newest is not None:
            Event.objects.filter(pk=newest.pk).update(is_active=True)
