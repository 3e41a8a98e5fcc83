"""The management REST API: events and organization settings, in JSON and MessagePack, errors naming the field."""

import datetime as dt

import msgpack
import pytest
from rest_framework.test import APIClient

from apps.events.models import Event
from apps.events.services import event_create
from apps.orgs.models import Membership, Organization, RelayClient, Role
from apps.orgs.secrets import secret_matches
from apps.relay.models import SourceLog

EM = "/event-management/v1"
UM = "/user-management/v1"


@pytest.fixture
def as_user():
    def make(user):
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def as_machine(machine_token):
    def make(client_and_secret):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {machine_token(client_and_secret[0])}")
        return client

    return make


def test_a_relay_lists_its_organizations_events_newest_first(as_machine, relay_a, event_a, event_b, org_a):
    older = event_create(organization=org_a, name="Older", start_date=dt.date(2025, 1, 1))
    response = as_machine(relay_a).get(f"{EM}/Event/LoadEventSummaries")
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [event_a.id, older.id]
    assert response.json()[0]["startDate"] == "2026-05-01T00:00:00"


def test_routes_match_case_insensitively_and_without_the_version(as_machine, relay_a, event_a):
    assert as_machine(relay_a).get("/event-management/event/loadevent?eventid=%d" % event_a.id).status_code == 200


def test_an_event_is_sent_as_a_positional_array_in_messagepack(as_machine, relay_a, event_a):
    response = as_machine(relay_a).get(f"{EM}/Event/LoadEvent?eventId={event_a.id}",
                                       HTTP_ACCEPT="application/x-msgpack")
    assert response["Content-Type"].startswith("application/x-msgpack")
    body = msgpack.unpackb(response.content, raw=False, timestamp=3)
    assert isinstance(body, list) and len(body) == 23
    assert body[0] == event_a.id and body[1] == event_a.organization_id and body[2] == "Alpha 8 Hours"
    assert body[3].date() == dt.date(2026, 5, 1)


def test_an_unknown_accept_header_falls_back_to_json(as_machine, relay_a, event_a):
    response = as_machine(relay_a).get(f"{EM}/Event/LoadEvent?eventId={event_a.id}", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response.json()["id"] == event_a.id


def test_an_editor_creates_an_event_and_gets_its_id(as_user, editor_a, org_a):
    response = as_user(editor_a).post(f"{EM}/Event/SaveNewEvent", {
        "name": "Night Race", "startDate": "2026-07-01T00:00:00", "trackName": "Thunderhill",
        "loopsMetadata": [{"id": 3, "type": 1, "name": "Pit In"}],
    }, format="json")
    assert response.status_code == 200, response.content
    event = Event.objects.get(pk=response.json())
    assert event.organization == org_a and event.end_date == dt.date(2026, 7, 1)
    assert event.loops_metadata[0]["name"] == "Pit In" and not event.is_simulation


def test_an_event_can_be_created_from_a_messagepack_positional_array(as_machine, relay_a, org_a):
    body = [None] * 23
    body[2], body[3] = "Packed", msgpack.Timestamp.from_datetime(dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc))
    response = as_machine(relay_a).post(f"{EM}/Event/SaveNewEvent", msgpack.packb(body, datetime=False),
                                        content_type="application/x-msgpack")
    assert response.status_code == 200, response.content
    assert Event.objects.get(pk=response.json()).start_date == dt.date(2026, 8, 1)


def test_an_api_client_can_only_create_simulations(as_machine, api_client_a):
    response = as_machine(api_client_a).post(f"{EM}/Event/SaveNewEvent",
                                             {"name": "Sim", "startDate": "2026-07-01"}, format="json")
    event = Event.objects.get(pk=response.json())
    assert event.is_simulation and not event.enable_source_data_logging


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"startDate": "2026-07-01"}, "name"),
        ({"name": "X"}, "startDate"),
        ({"name": "X", "startDate": "July"}, "startDate"),
        ({"name": "X", "startDate": "2026-07-02", "endDate": "2026-07-01"}, "body"),
        ({"name": "X", "startDate": "2026-07-01", "isPrivate": True}, "accessCode"),
        ({"name": "X", "startDate": "2026-07-01", "isPrivate": True, "accessCode": "12ab"}, "accessCode"),
        ({"name": "X" * 513, "startDate": "2026-07-01"}, "name"),
        ({"name": "X", "startDate": "2026-07-01", "eventUrl": "not a url"}, "eventUrl"),
        ({"name": "X", "startDate": "2026-07-01", "loopsMetadata": [{"id": 1, "type": 9}]}, "loopsMetadata"),
        ({"name": "X", "startDate": "2026-07-01", "timingSource": 1}, "timingSource"),
    ],
)
def test_invalid_event_input_is_refused_naming_the_field(as_user, editor_a, body, field):
    response = as_user(editor_a).post(f"{EM}/Event/SaveNewEvent", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_updating_an_event_changes_only_the_fields_sent(as_user, editor_a, event_a):
    response = as_user(editor_a).post(f"{EM}/Event/UpdateEvent",
                                      {"id": event_a.id, "trackName": "Sonoma", "isPrivate": True,
                                       "accessCode": "1234"}, format="json")
    assert response.status_code == 200, response.content
    event_a.refresh_from_db()
    assert (event_a.track_name, event_a.name, event_a.is_private, event_a.access_code) == (
        "Sonoma", "Alpha 8 Hours", True, "1234")


def test_one_event_at_a_time_is_active(as_user, editor_a, org_a, event_a):
    other = event_create(organization=org_a, name="Second", start_date=dt.date(2026, 6, 1), is_active=True)
    assert as_user(editor_a).put(f"{EM}/Event/UpdateEventStatusActive?eventId={event_a.id}").status_code == 200
    event_a.refresh_from_db()
    other.refresh_from_db()
    assert event_a.is_active and not other.is_active


def test_deleting_the_active_event_soft_deletes_it_and_activates_the_newest_other(as_user, admin_a, org_a, event_a):
    newest = event_create(organization=org_a, name="Newest", start_date=dt.date(2026, 9, 1))
    event_a.is_active = True
    event_a.save()
    client = as_user(admin_a)
    assert client.put(f"{EM}/Event/DeleteEvent?eventId={event_a.id}").status_code == 200
    event_a.refresh_from_db()
    newest.refresh_from_db()
    assert event_a.is_deleted and newest.is_active
    assert client.get(f"{EM}/Event/LoadEvent?eventId={event_a.id}").status_code == 404
    assert event_a.id not in [e["id"] for e in client.get(f"{EM}/Event/LoadEventSummaries").json()]


def test_the_raw_event_log_is_paged_newest_first(as_user, viewer_a, event_a):
    from django.utils import timezone

    base = timezone.now()
    for i in range(5):
        SourceLog.objects.create(event=event_a, session_id=7 if i < 3 else 8, message_type="rmonitor",
                                 timestamp=base + dt.timedelta(seconds=i), data=f"$F,{i}")
    client = as_user(viewer_a)
    page = client.get(f"{EM}/Event/LoadEventLogs?eventId={event_a.id}&skip=1&take=2").json()
    assert [row["data"] for row in page] == ["$F,3", "$F,2"]
    assert client.get(f"{EM}/Event/LoadEventLogsCount?eventId={event_a.id}&sessionId=7").json() == 3
    bad = client.get(f"{EM}/Event/LoadEventLogs?eventId={event_a.id}&take=10001")
    assert bad.status_code == 400 and "take" in bad.json()


def test_a_missing_query_parameter_is_named(as_user, viewer_a):
    response = as_user(viewer_a).get(f"{EM}/Event/LoadEvent")
    assert response.status_code == 400 and "eventId" in response.json()


# --- organization settings ---------------------------------------------------------------------------------


def test_an_admin_updates_the_organization_settings(as_user, admin_a, org_a):
    response = as_user(admin_a).post(f"{EM}/Organization/UpdateOrganization", {
        "website": "https://alpha.example", "controlLogType": "WrlGoogleSheet", "controlLogParams": "sheet;Log",
        "classes": [{"name": "GTU", "order": 2, "colorHex": "#112233"}], "rMonitorIp": "10.0.0.5",
        "rMonitorPort": 50001, "x2": {"username": "x2user", "password": "x2-pass", "server": "x2.local"},
        "flagtronicsApiKey": "ft-key", "showX2Connection": False, "logo": "iVBORw0KGgo=",
    }, format="json")
    assert response.status_code == 200, response.content
    org_a.refresh_from_db()
    assert org_a.website == "https://alpha.example" and org_a.control_log_type == "WRL Google Sheet"
    assert org_a.classes == [{"name": "GTU", "order": 2, "color": "#112233"}]
    assert org_a.rmonitor_port == 50001 and org_a.x2_username == "x2user" and not org_a.show_x2_connection
    assert bytes(org_a.logo) == b"\x89PNG\r\n\x1a\n"
    assert "x2-pass" not in org_a.x2_password_encrypted  # stored encrypted
    loaded = as_user(admin_a).get(f"{EM}/Organization/LoadOrganization").json()
    assert loaded["x2"] == {"username": "x2user", "password": "x2-pass", "server": "x2.local"}
    assert loaded["flagtronicsApiKey"] == "ft-key" and loaded["classes"][0]["colorHex"] == "#112233"
    assert loaded["controlLogType"] == "WrlGoogleSheet" and loaded["logo"] == "iVBORw0KGgo="


def test_a_viewer_sees_the_settings_but_not_the_stored_credentials(as_user, admin_a, viewer_a, org_a):
    as_user(admin_a).post(f"{EM}/Organization/UpdateOrganization", {"x2": {"password": "x2-pass"}}, format="json")
    loaded = as_user(viewer_a).get(f"{EM}/Organization/LoadOrganization").json()
    assert loaded["id"] == org_a.id and loaded["x2"]["password"] is None and loaded["flagtronicsApiKey"] is None


def test_the_organization_is_a_25_slot_positional_array_with_key_8_unused(as_machine, relay_a, org_a):
    response = as_machine(relay_a).get(f"{EM}/Organization/LoadOrganization", HTTP_ACCEPT="application/x-msgpack")
    body = msgpack.unpackb(response.content, raw=False, timestamp=3)
    assert len(body) == 25 and body[0] == org_a.id and body[1] == relay_a[0].client_id and body[8] is None
    assert body[3] == "alpha" and body[11] == 50000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"website": "nope"}, "website"),
        ({"rMonitorPort": 70000}, "rMonitorPort"),
        ({"controlLogType": "Telepathy"}, "controlLogType"),
        ({"controlLogType": "WrlGoogleSheet", "controlLogParams": "only-one-part"}, "controlLogParams"),
        ({"classes": [{"name": "GTU", "colorHex": "red"}]}, "classes"),
        ({"classes": [{"name": "A"}, {"name": "A"}]}, "classes"),
        ({"logo": "***"}, "logo"),
    ],
)
def test_invalid_organization_settings_are_refused_naming_the_field(as_user, admin_a, body, field):
    response = as_user(admin_a).post(f"{EM}/Organization/UpdateOrganization", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_testing_an_announcement_control_log_reports_it_connected(as_user, editor_a, event_a):
    response = as_user(editor_a).post(f"{EM}/Organization/GetControlLogStatistics",
                                      {"controlLogType": "Announcement"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"isConnected": True, "totalEntries": 0, "isStaleWarning": False}


def test_testing_a_google_sheet_source_fetches_it_once(as_user, editor_a, settings, http_stub):
    url = http_stub({"/sheet": (200, "text/csv", "Time,Car,Note\n10:00,7,contact\n10:05,9,spin\n")})
    settings.GOOGLE_SHEETS_CSV_URL = url + "/sheet?id={spreadsheet}&ws={worksheet}"
    response = as_user(editor_a).post(f"{EM}/Organization/GetControlLogStatistics",
                                      {"controlLogType": "WrlGoogleSheet", "controlLogParams": "abc;Log"},
                                      format="json")
    assert response.json() == {"isConnected": True, "totalEntries": 2, "isStaleWarning": False}


def test_administrators_are_listed_and_replaced(as_user, admin_a, editor_a, org_a):
    client = as_user(admin_a)
    assert client.get(f"{EM}/Organization/LoadOrganizationAdministrators").json() == ["alice"]
    assert client.post(f"{EM}/Organization/SaveOrganizationAdministrators", ["eddie"], format="json").status_code == 200
    assert set(Membership.objects.filter(organization=org_a).values_list("user__username", "role")) == {("eddie", "admin")}
    refused = as_user(editor_a).post(f"{EM}/Organization/SaveOrganizationAdministrators", ["nobody"], format="json")
    assert refused.status_code == 400 and "usernames" in refused.json()


# --- user management -----------------------------------------------------------------------------------------


def test_signing_up_creates_the_organization_with_its_creator_as_admin_and_a_relay_client(as_user, django_user_model):
    user = django_user_model.objects.create_user(username="newbie", email="n@example.org")
    response = as_user(user).post(f"{UM}/Organization/SaveNewOrganization",
                                  {"name": "Charlie Racing", "shortName": "Charlie"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    org = Organization.objects.get(pk=body["id"])
    assert Membership.objects.get(organization=org).role == Role.ADMIN
    relay = RelayClient.objects.get(organization=org)
    assert body["clientId"] == relay.client_id == "relay-charlie"
    assert secret_matches(secret=body["clientSecret"], digest=relay.secret_hash)
    assert as_user(user).get(f"{UM}/Organization/RelayClientNameExists?name=Charlie").json() is True
    assert as_user(user).get(f"{UM}/Organization/ApiClientNameExists?name=Charlie").json() is False
    again = as_user(user).post(f"{UM}/Organization/SaveNewOrganization",
                               {"name": "Again", "shortName": "charlie"}, format="json")
    assert again.status_code == 400 and "shortName" in again.json()


def test_members_are_added_changed_and_removed_by_an_admin(as_user, admin_a, org_a, django_user_model):
    django_user_model.objects.create_user(username="newcomer")
    client = as_user(admin_a)
    assert client.post(f"{UM}/Organization/SaveMember", {"username": "newcomer", "role": "editor"},
                       format="json").status_code == 200
    assert {"username": "newcomer", "email": "", "role": "editor"} in client.get(f"{UM}/Organization/LoadMembers").json()
    assert client.post(f"{UM}/Organization/RemoveMember", {"username": "newcomer"}, format="json").status_code == 200
    last_admin = client.post(f"{UM}/Organization/SaveMember", {"username": "alice", "role": "viewer"}, format="json")
    assert last_admin.status_code == 400 and "role" in last_admin.json()
    unknown = client.post(f"{UM}/Organization/SaveMember", {"username": "ghost", "role": "viewer"}, format="json")
    assert unknown.status_code == 400 and "username" in unknown.json()


def test_clients_are_created_rotated_and_revoked_with_the_secret_shown_once(as_user, admin_a, org_a, client):
    api = as_user(admin_a)
    created = api.post(f"{UM}/Organization/CreateClient", {"kind": "api", "name": "Timing Team"}, format="json").json()
    assert created["clientId"] == "api-timing-team" and created["clientSecret"]
    listing = api.get(f"{UM}/Organization/LoadClients").json()
    assert [c["clientId"] for c in listing] == ["api-timing-team"] and "clientSecret" not in listing[0]
    form = {"grant_type": "client_credentials", "client_id": "api-timing-team"}
    assert client.post("/oauth/token", {**form, "client_secret": created["clientSecret"]}).status_code == 200
    rotated = api.post(f"{UM}/Organization/RotateClientSecret", {"clientId": "api-timing-team"}, format="json").json()
    assert client.post("/oauth/token", {**form, "client_secret": created["clientSecret"]}).status_code == 401
    assert client.post("/oauth/token", {**form, "client_secret": rotated["clientSecret"]}).status_code == 200
    assert api.post(f"{UM}/Organization/RevokeClient", {"clientId": "api-timing-team"}, format="json").status_code == 200
    assert client.post("/oauth/token", {**form, "client_secret": rotated["clientSecret"]}).status_code == 401


def test_deleting_the_last_members_account_removes_the_organization(as_user, admin_a, org_a, event_a, relay_a,
                                                                     django_user_model):
    response = as_user(admin_a).delete(f"{UM}/Organization/DeleteUserAccount")
    assert response.status_code == 200 and response.json() == {"removedOrganizationIds": [org_a.id]}
    org_a.refresh_from_db()
    event_a.refresh_from_db()
    assert org_a.is_deleted and event_a.is_deleted
    assert not RelayClient.objects.filter(organization=org_a).exists()
    assert not django_user_model.objects.filter(username="alice").exists()


def test_an_organization_with_other_members_survives_an_account_deletion(as_user, admin_a, editor_a, org_a):
    as_user(editor_a).delete(f"{UM}/Organization/DeleteUserAccount")
    org_a.refresh_from_db()
    assert not org_a.is_deleted


def test_browser_sessions_need_a_csrf_token_for_writes(admin_a, event_a):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_a)
    response = client.put(f"{EM}/Event/UpdateEventStatusActive?eventId={event_a.id}")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_write_endpoints_are_throttled_per_caller(as_user, editor_a, event_a, settings):
    settings.THROTTLE_RATES = {"token": None, "write": "2/min"}
    from django.core.cache import cache

    cache.delete(f"throttle_write_user:{editor_a.pk}")
    client = as_user(editor_a)
    codes = [client.put(f"{EM}/Event/UpdateEventStatusActive?eventId={event_a.id}").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get(f"{EM}/Event/LoadEvent?eventId={event_a.id}").status_code == 200  # reads are not throttled


def test_cors_allows_configured_origins_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://timing.example.org"]
    preflight = {"HTTP_ORIGIN": "https://timing.example.org", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
                 "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization, content-type"}
    allowed = client.options(f"{EM}/Event/SaveNewEvent", **preflight)
    assert allowed["Access-Control-Allow-Origin"] == "https://timing.example.org"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    refused = client.options(f"{EM}/Event/SaveNewEvent", **{**preflight, "HTTP_ORIGIN": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused
