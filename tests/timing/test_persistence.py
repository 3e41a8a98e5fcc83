"""What the worker writes: results keep the richest copy, empty sessions leave none, flags follow the engine."""

import datetime as dt

import pytest

from apps.events.models import SessionResult
from apps.timing.models import FlagPeriod
from apps.timing.services import flag_periods_store, session_result_store

pytestmark = pytest.mark.django_db


def _state(cars: int) -> dict:
    return {"sessionId": 9, "sessionName": "Race", "carPositions": [{"n": str(i)} for i in range(cars)], "eventEntries": []}


def test_a_session_without_cars_or_entries_leaves_no_result(event_a):
    assert session_result_store(event_id=event_a.pk, state=_state(0)) is None
    assert not SessionResult.objects.exists()


def test_a_poorer_copy_of_a_result_does_not_replace_a_richer_one(event_a):
    session_result_store(event_id=event_a.pk, state=_state(12))
    session_result_store(event_id=event_a.pk, state=_state(3))
    assert len(SessionResult.objects.get().session_state["carPositions"]) == 12
    session_result_store(event_id=event_a.pk, state=_state(14))
    assert len(SessionResult.objects.get().session_state["carPositions"]) == 14


def test_stored_flag_periods_follow_the_engines_list(event_a):
    start = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    green = {"f": 1, "s": start.isoformat(), "e": None}
    flag_periods_store(event_id=event_a.pk, session_id=9, periods=[green])
    closed = dict(green, e=(start + dt.timedelta(minutes=5)).isoformat())
    yellow = {"f": 2, "s": (start + dt.timedelta(minutes=5)).isoformat(), "e": None}
    flag_periods_store(event_id=event_a.pk, session_id=9, periods=[closed, yellow])
    rows = list(FlagPeriod.objects.order_by("start_time").values_list("flag", "end_time"))
    assert rows == [(1, start + dt.timedelta(minutes=5)), (2, None)]
    flag_periods_store(event_id=event_a.pk, session_id=9, periods=[closed, yellow])
    assert FlagPeriod.objects.count() == 2
