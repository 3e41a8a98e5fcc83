import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.events.models import CompetitorMetadata, Event, Session
from apps.events.services import event_create, session_upsert


@pytest.mark.parametrize("code", ["1", "1234567", "0000000"])
def test_an_access_code_of_one_to_seven_digits_is_accepted(org_a, code):
    event = event_create(organization=org_a, name="Private", start_date=dt.date(2026, 1, 1), is_private=True, access_code=code)
    assert event.access_code == code


@pytest.mark.parametrize("code", ["12345678", "12a4", " 123", "-1"])
def test_an_access_code_that_is_not_one_to_seven_digits_is_rejected(org_a, code):
    with pytest.raises(ValidationError) as error:
        event_create(organization=org_a, name="Private", start_date=dt.date(2026, 1, 1), is_private=True, access_code=code)
    assert "access_code" in error.value.message_dict


def test_a_private_event_without_an_access_code_is_rejected_by_validation_and_database(org_a):
    with pytest.raises(ValidationError, match="needs an access code"):
        event_create(organization=org_a, name="Private", start_date=dt.date(2026, 1, 1), is_private=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(organization=org_a, name="Private", start_date=dt.date(2026, 1, 1),
                             end_date=dt.date(2026, 1, 1), is_private=True)


def test_an_event_cannot_end_before_it_starts(org_a):
    with pytest.raises(ValidationError):
        event_create(organization=org_a, name="Backwards", start_date=dt.date(2026, 1, 2), end_date=dt.date(2026, 1, 1))


def test_a_session_id_is_unique_within_an_event_but_not_across_events(event_a, event_b):
    start = timezone.now()
    Session.objects.create(event=event_a, session_id=7, name="Race", start_time=start)
    Session.objects.create(event=event_b, session_id=7, name="Race", start_time=start)
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(event=event_a, session_id=7, name="Again", start_time=start)


def test_session_upsert_updates_the_existing_row_for_the_same_timing_id(event_a):
    start = timezone.now()
    first = session_upsert(event=event_a, session_id=3, name="Practice", start_time=start)
    second = session_upsert(event=event_a, session_id=3, name="Practice 1", start_time=start, is_practice_qualifying=True)
    assert first.pk == second.pk
    assert Session.objects.get(pk=first.pk).name == "Practice 1"
    assert Session.objects.filter(event=event_a).count() == 1


def test_a_car_number_has_one_competitor_row_per_event(event_a):
    CompetitorMetadata.objects.create(event=event_a, car_number="42", first_name="Ann")
    with pytest.raises(IntegrityError), transaction.atomic():
        CompetitorMetadata.objects.create(event=event_a, car_number="42", first_name="Ben")


def test_visible_events_exclude_soft_deleted_ones(event_a, org_a):
    gone = event_create(organization=org_a, name="Gone", start_date=dt.date(2026, 1, 1), is_deleted=True)
    assert list(Event.objects.visible()) == [event_a]
    assert Event.objects.filter(pk=gone.pk).exists()
