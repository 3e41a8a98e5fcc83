"""Persistence of what the timing worker produces: laps, flag periods, session results, raw messages.

Every write is idempotent (unique keys, upserts) because a worker that takes over an event re-applies
the messages its predecessor had not yet covered with a snapshot.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from django.db import transaction
from django.utils import timezone

from apps.events.models import Event, Session, SessionResult
from apps.relay.models import SourceLog
from apps.timing.models import CarLap, FlagPeriod


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    # Track-local times from the feed carry no zone; they are stored as given, labelled UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def session_for_timing_id(*, event_id: int, session_id: int, name: str = "") -> Session:
    session = Session.objects.filter(event_id=event_id, session_id=session_id).first()
    if session is None:
        session, _ = Session.objects.get_or_create(
            event_id=event_id, session_id=session_id,
            defaults={"name": name[:64], "start_time": timezone.now(), "is_live": True},
        )
    return session


@transaction.atomic
def car_laps_store(*, event_id: int, laps: Iterable[Any]) -> int:
    """Store completed laps (engine CompletedLap objects); a lap already stored is left alone."""
    rows = []
    sessions: dict[int, Session] = {}
    for lap in laps:
        session = sessions.get(lap.session_id)
        if session is None:
            session = sessions[lap.session_id] = session_for_timing_id(event_id=event_id, session_id=lap.session_id)
        rows.append(CarLap(
            event_id=event_id, session=session, car_number=str(lap.car_number)[:20], lap_number=lap.lap_number,
            timestamp=_aware(lap.timestamp), flag=int(lap.flag), car=lap.car,
        ))
    CarLap.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def flag_periods_store(*, event_id: int, session_id: int, periods: list[dict]) -> None:
    """Make the session's stored flag periods equal the engine's list ({"f", "s", "e"} items)."""
    session = session_for_timing_id(event_id=event_id, session_id=session_id)
    wanted = {(int(p["f"]), _aware(p["s"])): _aware(p.get("e")) for p in periods if p.get("s")}
    existing = {(row.flag, row.start_time): row for row in FlagPeriod.objects.filter(session=session)}
    for key, row in existing.items():
        if key not in wanted:
            row.delete()
        elif row.end_time != wanted[key]:
            row.end_time = wanted[key]
            row.save(update_fields=["end_time"])
    FlagPeriod.objects.bulk_create(
        [FlagPeriod(event_id=event_id, session=session, flag=f, start_time=s, end_time=e)
         for (f, s), e in wanted.items() if (f, s) not in existing],
        ignore_conflicts=True,
    )


def _richness(state: dict) -> tuple[int, int]:
    return len(state.get("carPositions") or []), len(state.get("eventEntries") or [])


@transaction.atomic
def session_result_store(*, event_id: int, state: dict) -> SessionResult | None:
    """Keep a finished session's final state and close the session row.

    A session with neither cars nor entries leaves no result, and a later, poorer copy (a run can be
    finalized at the checkered flag and again at the run change) does not replace a richer one.
    """
    if _richness(state) == (0, 0):
        return None
    session_id = int(state.get("sessionId") or state.get("SessionId") or 0)
    session = session_for_timing_id(event_id=event_id, session_id=session_id, name=str(state.get("sessionName") or ""))
    now = timezone.now()
    Session.objects.filter(pk=session.pk).update(is_live=False, end_time=now, last_updated=now)
    existing = SessionResult.objects.select_for_update().filter(session=session).first()
    if existing is not None and _richness(existing.session_state) > _richness(state):
        return existing
    result, _ = SessionResult.objects.update_or_create(
        session=session, defaults={"event_id": event_id, "start": session.start_time, "session_state": state},
    )
    return result


def source_logs_store(*, event_id: int, messages: list[tuple[str, int, float, str]]) -> None:
    """Raw relay messages (kind, session id, received unix time, payload), kept when the event asks for it."""
    SourceLog.objects.bulk_create([
        SourceLog(event_id=event_id, message_type=kind, session_id=session_id,
                  timestamp=dt.datetime.fromtimestamp(received, dt.UTC), data=payload)
        for kind, session_id, received, payload in messages
    ])


def event_worker_settings(*, event_id: int) -> dict | None:
    """What the timing worker needs from the event row: source logging and the X2 loop metadata."""
    return Event.objects.filter(pk=event_id).values("enable_source_data_logging", "is_deleted", "loops_metadata").first()


def event_mark_not_live(*, event_id: int) -> None:
    Event.objects.filter(pk=event_id).update(is_live=False)
    Session.objects.filter(event_id=event_id, is_live=True).update(is_live=False)
