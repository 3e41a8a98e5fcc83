"""Reads of race control's log in the contract's shapes (api-contract §11.7): ControlLogEntry and CarControlLogs."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.controllog.models import ControlLogEntry
from apps.timing.engine import wire

#: ControlLogEntry JSON names in MessagePack key order.
ENTRY_JSON = ("o", "t", "cor", "c1", "c1h", "c2", "c2h", "n", "s", "a", "on")


def control_log_entry_to_json(row: ControlLogEntry) -> dict[str, Any]:
    return {
        "o": row.order_id, "t": wire.datetime_to_json(row.timestamp), "cor": row.corner, "c1": row.car1,
        "c1h": row.car1_highlighted, "c2": row.car2, "c2h": row.car2_highlighted, "n": row.note, "s": row.status,
        "a": row.penalty_action, "on": row.other_notes,
    }


def control_log_list(*, event_id: int, car_number: str | None = None) -> list[dict[str, Any]]:
    """The event's live log (oldest row first), or only the rows naming one car."""
    rows = ControlLogEntry.objects.filter(event_id=event_id)
    if car_number:
        rows = rows.filter(Q(car1=car_number) | Q(car2=car_number))
    return [control_log_entry_to_json(row) for row in rows.order_by("order_id")]


def car_control_logs(*, event_id: int, car_number: str = "") -> dict[str, Any]:
    """CarControlLogs: `cn` empty means the whole event."""
    return {"cn": car_number, "entries": control_log_list(event_id=event_id, car_number=car_number or None)}


def control_log_entry_to_msgpack(entry: dict[str, Any]) -> list[Any]:
    out = [entry.get(k) for k in ENTRY_JSON]
    out[1] = wire.datetime_from_json(out[1]) if isinstance(out[1], str) else out[1]
    return out


def car_control_logs_to_msgpack(logs: dict[str, Any] | None) -> list[Any] | None:
    if logs is None:
        return None
    return [logs.get("cn", ""), [control_log_entry_to_msgpack(e) for e in logs.get("entries", [])]]
