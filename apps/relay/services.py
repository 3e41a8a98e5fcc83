"""What the relay socket does with the frames that are not plain timing data."""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.db import transaction
from django.utils import timezone

from apps.events.models import CompetitorMetadata, Event
from apps.events.services import session_upsert
from apps.orgs.models import Organization, RelayLog

logger = logging.getLogger(__name__)

_PRACTICE_WORDS = ("practice", "qualifying", "qual")

# Competitor fields by the contract's short JSON names and the reference's PascalCase names.
_COMPETITOR_FIELDS = {
    "car_class": ("cl", "Class"),
    "first_name": ("fn", "FirstName"),
    "last_name": ("ln", "LastName"),
    "nation_state": ("ns", "NationState"),
    "sponsor": ("s", "Sponsor"),
    "make": ("mk", "Make"),
    "hometown": ("h", "Hometown"),
    "club": ("c", "Club"),
    "model_engine": ("mo", "ModelEngine"),
    "tires": ("tr", "Tires"),
    "email": ("a", "Email"),
}


def relay_event_for_organization(*, event_id: int, organization_id: int) -> Event | None:
    """The event a relay may feed: its own organization's, not deleted, not archived."""
    return Event.objects.filter(
        pk=event_id, organization_id=organization_id, is_deleted=False, is_archived=False
    ).first()


def relay_session_change(*, event: Event, session_id: int, name: str, tz_offset: float) -> str:
    """Create or update the session row; returns the Session JSON the timing worker receives."""
    now = timezone.now()
    is_practice = any(word in name.lower() for word in _PRACTICE_WORDS)
    session = session_upsert(
        event=event, session_id=session_id, name=name, start_time=now,
        local_time_zone_offset=tz_offset, is_practice_qualifying=is_practice,
    )
    return json.dumps({
        "sid": session.session_id, "eid": event.pk, "n": session.name, "st": session.start_time.isoformat(),
        "et": None, "tz": session.local_time_zone_offset, "lu": now.isoformat(), "il": True, "pq": is_practice,
    })


def relay_heartbeat_record(*, event_id: int, organization_id: int, version: str) -> None:
    now = timezone.now()
    Organization.objects.filter(pk=organization_id).update(relay_version=version[:18], relay_last_connected=now)
    Event.objects.filter(pk=event_id).update(is_live=True, last_heartbeat=now)


def _first(item: dict, names: tuple[str, ...]):
    for name in names:
        if name in item:
            return item[name]
    return None


def _transponder(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


@transaction.atomic
def competitors_upsert(*, event: Event, competitors: list[dict]) -> tuple[int, list[str]]:
    """Upsert competitor rows; returns (rows written, reasons for the items skipped)."""
    written, skipped = 0, []
    for index, item in enumerate(competitors):
        number = _first(item, ("n", "CarNumber", "carNumber"))
        if not isinstance(number, (str, int)) or not str(number).strip() or len(str(number)) > 16:
            skipped.append(f"item {index}: missing or invalid car number")
            continue
        defaults = {
            "transponder": _transponder(_first(item, ("t", "Transponder", "transponder"))),
            "transponder2": _transponder(_first(item, ("t2", "Transponder2", "transponder2"))),
        }
        for field, names in _COMPETITOR_FIELDS.items():
            value = _first(item, names)
            max_length = CompetitorMetadata._meta.get_field(field).max_length
            defaults[field] = str(value)[:max_length] if value is not None else ""
        CompetitorMetadata.objects.update_or_create(event=event, car_number=str(number).strip(), defaults=defaults)
        written += 1
    return written, skipped


def relay_log_record(*, organization_id: int, timestamp: dt.datetime, level: str, message: str, exception: str) -> None:
    RelayLog.objects.create(
        organization_id=organization_id, timestamp=timestamp, level=level[:20], message=message[:1024], exception=exception
    )
