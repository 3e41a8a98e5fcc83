"""An organizer sees and edits only their organization's rows in the Django admin."""

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.controllog.models import ControlLogEntry
from apps.events.models import Event, Session
from apps.orgs.models import RelayClient
from apps.orgs.services import relay_client_create
from apps.timing.models import CarLap


@pytest.fixture
def rows(event_a, event_b, org_a, org_b):
    now = timezone.now()
    made = {}
    for key, event, org in (("a", event_a, org_a), ("b", event_b, org_b)):
        session = Session.objects.create(event=event, session_id=1, name=f"Race {key}", start_time=now)
        client, _ = relay_client_create(organization=org)
        log = ControlLogEntry.objects.create(event=event, order_id=1, car1="7", note=f"contact {key}")
        lap = CarLap.objects.create(event=event, session=session, car_number="7", lap_number=1, timestamp=now, car={"n": "7"})
        made[key] = {"event": event, "session": session, "relayclient": client, "controllogentry": log, "carlap": lap}
    return made


def _url(obj, view):
    meta = obj._meta
    if view == "changelist":
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


MODELS = ["event", "session", "relayclient", "controllogentry", "carlap"]


@pytest.mark.parametrize("model", MODELS)
def test_an_org_admin_lists_only_their_own_rows(client, admin_a, rows, model):
    client.force_login(admin_a)
    response = client.get(_url(rows["a"][model], "changelist"))
    assert response.status_code == 200
    ids = {obj.pk for obj in response.context["cl"].result_list}
    assert rows["a"][model].pk in ids
    assert rows["b"][model].pk not in ids


@pytest.mark.parametrize("model", MODELS)
def test_an_org_admin_cannot_open_or_delete_another_orgs_row(client, admin_a, rows, model):
    client.force_login(admin_a)
    other = rows["b"][model]
    change = client.get(_url(other, "change"))
    assert change.status_code == 302 and change.url == reverse("admin:index")  # "doesn't exist" redirect
    delete = client.post(_url(other, "delete"), {"post": "yes"})
    assert delete.status_code in (302, 403)
    assert type(other).objects.filter(pk=other.pk).exists()


def test_an_org_admin_can_change_and_soft_delete_their_own_event(client, admin_a, rows):
    client.force_login(admin_a)
    event = rows["a"]["event"]
    assert client.get(_url(event, "change")).status_code == 200
    response = client.post(_url(event, "delete"), {"post": "yes"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.is_deleted
    assert CarLap.objects.filter(event=event).exists()


def test_an_org_admin_cannot_post_changes_to_another_orgs_event(client, admin_a, rows):
    client.force_login(admin_a)
    other = rows["b"]["event"]
    client.post(_url(other, "change"), {"name": "Hijacked", "organization": other.organization_id})
    other.refresh_from_db()
    assert other.name == "Bravo Sprint"


def test_an_org_admin_cannot_create_an_event_in_another_org(client, admin_a, org_b, rows):
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:events_event_add"),
        {
            "organization": org_b.pk, "name": "Sneaky", "start_date": "2026-06-01", "end_date": "2026-06-01",
            "enable_source_data_logging": "on", "schedule": "{}", "broadcast": "{}", "loops_metadata": "[]",
            "sessions-TOTAL_FORMS": "0", "sessions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # form redisplayed with an error
    assert "organization" in response.context["adminform"].form.errors
    assert not Event.objects.filter(name="Sneaky").exists()


def test_laps_are_read_only_even_for_their_org_admin(client, admin_a, rows):
    client.force_login(admin_a)
    lap = rows["a"]["carlap"]
    response = client.get(_url(lap, "change"))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    client.post(_url(lap, "delete"), {"post": "yes"})
    assert CarLap.objects.filter(pk=lap.pk).exists()


def test_a_viewer_sees_their_events_but_cannot_change_them(client, viewer_a, rows):
    client.force_login(viewer_a)
    event = rows["a"]["event"]
    response = client.get(_url(event, "change"))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    client.post(_url(event, "change"), {"name": "Renamed"})
    event.refresh_from_db()
    assert event.name == "Alpha 8 Hours"


def test_an_editor_may_edit_events_but_not_relay_clients(client, editor_a, rows):
    client.force_login(editor_a)
    assert client.get(_url(rows["a"]["event"], "change")).context["has_change_permission"]
    assert not client.get(_url(rows["a"]["relayclient"], "change")).context["has_change_permission"]


def test_the_secret_is_shown_once_on_creation_and_never_again(client, admin_a, org_a):
    client.force_login(admin_a)
    response = client.post(
        reverse("admin:orgs_relayclient_add"),
        {"organization": org_a.pk, "client_id": "relay-track", "description": "", "is_active": "on"},
        follow=True,
    )
    created = RelayClient.objects.get(client_id="relay-track")
    shown = [str(m) for m in response.context["messages"]]
    assert any("shown only now" in m for m in shown)
    secret = next(m for m in shown if "shown only now" in m).rsplit(" ", 1)[-1]
    assert secret not in created.secret_hash
    page = client.get(_url(created, "change")).content.decode()
    assert secret not in page and created.secret_hash not in page
