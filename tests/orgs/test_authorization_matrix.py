"""The authorization matrix: every management endpoint and every relay-socket send, run as every kind of caller.

Callers: anonymous; a viewer, an editor and an admin of org A; an admin of org B; org A's relay client, org B's
relay client, an API client (of org A); and bearer tokens that are expired, not yet valid, for the wrong
audience, from the wrong issuer, tampered with, or unsigned (alg=none). Each case has its expected status, and
after every case by someone outside org A, org A's data is exactly as it was (no cross-organization write), and a
200 answer to someone outside org A mentions nothing of org A (no cross-organization read).

The status API (read, mostly anonymous) is gated by access codes, not roles: with org A's event private, every
event-scoped status action answers 401 to everyone without the code (admins and relays of org A included), and with
the code it answers every caller the action's declared policy admits (IsAuthenticated ones: 401 to anonymous).
The viewer socket is anonymous too: every subscription to org A's private event is refused to every caller
without the code and granted with it, whoever the caller is.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from apps.events.models import Event
from apps.orgs.models import ApiClient, Membership, Organization, RelayClient

EM, UM = "/event-management/v1", "/user-management/v1/Organization"

PEOPLE_A = ("viewer_a", "editor_a", "admin_a")
PEOPLE = (*PEOPLE_A, "admin_b")
MACHINES = ("relay_a", "relay_b", "api_a")
BAD_TOKENS = ("expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "tampered", "alg_none")
CALLERS = ("anonymous", *PEOPLE, *MACHINES, *BAD_TOKENS)
OUTSIDERS = ("anonymous", "admin_b", "relay_b", *BAD_TOKENS)


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # may contain {event_a} / {org_a} / {relay_a}
    body: object = None
    expect: dict = field(default_factory=dict)

    def status_for(self, caller: str) -> int:
        if caller in self.expect:
            return self.expect[caller]
        if caller in ("anonymous", *BAD_TOKENS):
            return 401
        raise KeyError(f"{self.name}: no expectation for {caller}")


def _expect(**groups) -> dict:
    """_expect(people_a=200, viewer_a=403, machines=403, ...) -> per-caller statuses (later keys win)."""
    out: dict[str, int] = {}
    names = {"people_a": PEOPLE_A, "people": PEOPLE, "machines": MACHINES}
    for key, status in groups.items():
        for caller in names.get(key, (key,)):
            out[caller] = status
    return out


# Events of org A: read by anyone in A, written by editors/admins/machines of A, 404 for other orgs.
READ_EVENT_A = _expect(people_a=200, admin_b=404, relay_a=200, relay_b=404, api_a=200)
WRITE_EVENT_A = _expect(people_a=200, viewer_a=403, admin_b=404, relay_a=200, relay_b=404, api_a=200)
ORG_A_SETTINGS = _expect(people_a=403, admin_a=200, admin_b=404, relay_a=200, relay_b=404, api_a=200)
PEOPLE_ONLY_ADMIN_A = _expect(people_a=403, admin_a=200, admin_b=404, machines=403)
PEOPLE_ONLY_ANY = _expect(people=200, machines=403)
OWN_ORG = _expect(people=200, machines=200)

ENDPOINTS = [
    # Event Management — Event controller (§8.1)
    Endpoint("LoadEventSummaries", "get", f"{EM}/Event/LoadEventSummaries", expect=OWN_ORG),
    Endpoint("LoadEventSummaries of org A", "get", f"{EM}/Event/LoadEventSummaries?organizationId={{org_a}}",
             expect=READ_EVENT_A),
    Endpoint("LoadEvent", "get", f"{EM}/Event/LoadEvent?eventId={{event_a}}", expect=READ_EVENT_A),
    Endpoint("SaveNewEvent", "post", f"{EM}/Event/SaveNewEvent", {"name": "New", "startDate": "2026-06-01"},
             expect=_expect(people=200, viewer_a=403, machines=200)),
    Endpoint("SaveNewEvent in org A", "post", f"{EM}/Event/SaveNewEvent?organizationId={{org_a}}",
             {"name": "New", "startDate": "2026-06-01"}, expect=WRITE_EVENT_A),
    Endpoint("UpdateEvent", "post", f"{EM}/Event/UpdateEvent", {"id": "{event_a}", "name": "Renamed"},
             expect=WRITE_EVENT_A),
    Endpoint("UpdateEventStatusActive", "put", f"{EM}/Event/UpdateEventStatusActive?eventId={{event_a}}",
             expect=WRITE_EVENT_A),
    Endpoint("DeleteEvent", "put", f"{EM}/Event/DeleteEvent?eventId={{event_a}}", expect=WRITE_EVENT_A),
    Endpoint("LoadEventLogs", "get", f"{EM}/Event/LoadEventLogs?eventId={{event_a}}", expect=READ_EVENT_A),
    Endpoint("LoadEventLogsCount", "get", f"{EM}/Event/LoadEventLogsCount?eventId={{event_a}}", expect=READ_EVENT_A),
    # Event Management — Organization controller (§8.2)
    Endpoint("LoadOrganization", "get", f"{EM}/Organization/LoadOrganization", expect=OWN_ORG),
    Endpoint("LoadOrganization of org A", "get", f"{EM}/Organization/LoadOrganization?organizationId={{org_a}}",
             expect=READ_EVENT_A),
    Endpoint("UpdateOrganization", "post", f"{EM}/Organization/UpdateOrganization",
             {"id": "{org_a}", "website": "https://changed.example"}, expect=ORG_A_SETTINGS),
    Endpoint("GetControlLogStatistics", "post", f"{EM}/Organization/GetControlLogStatistics",
             {"id": "{org_a}", "controlLogType": "Announcement"}, expect=WRITE_EVENT_A),
    Endpoint("LoadOrganizationAdministrators", "get",
             f"{EM}/Organization/LoadOrganizationAdministrators?organizationId={{org_a}}", expect=READ_EVENT_A),
    Endpoint("SaveOrganizationAdministrators", "post",
             f"{EM}/Organization/SaveOrganizationAdministrators?organizationId={{org_a}}", ["alice", "eddie"],
             expect=PEOPLE_ONLY_ADMIN_A),
    # User Management (§9 and this implementation's additions)
    Endpoint("LoadUserOrganization", "get", f"{UM}/LoadUserOrganization", expect=PEOPLE_ONLY_ANY),
    Endpoint("LoadUserOrganizationRoles", "get", f"{UM}/LoadUserOrganizationRoles", expect=PEOPLE_ONLY_ANY),
    Endpoint("RelayClientNameExists", "get", f"{UM}/RelayClientNameExists?name=zulu", expect=PEOPLE_ONLY_ANY),
    Endpoint("ApiClientNameExists", "get", f"{UM}/ApiClientNameExists?name=zulu", expect=PEOPLE_ONLY_ANY),
    Endpoint("SaveNewOrganization", "post", f"{UM}/SaveNewOrganization", {"name": "Zulu", "shortName": "zulu"},
             expect=PEOPLE_ONLY_ANY),
    Endpoint("SaveNewApiUser", "post", f"{UM}/SaveNewApiUser", {"name": "Yankee", "shortName": "yankee"},
             expect=PEOPLE_ONLY_ANY),
    Endpoint("UpdateOrganization (user management)", "post", f"{UM}/UpdateOrganization",
             {"id": "{org_a}", "name": "Renamed"}, expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("LoadRelayConnection", "get", f"{UM}/LoadRelayConnection?organizationId={{org_a}}",
             expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("LoadMembers", "get", f"{UM}/LoadMembers?organizationId={{org_a}}",
             expect=_expect(people_a=200, admin_b=404, machines=403)),
    Endpoint("SaveMember", "post", f"{UM}/SaveMember", {"organizationId": "{org_a}", "username": "vera",
                                                         "role": "editor"}, expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("RemoveMember", "post", f"{UM}/RemoveMember", {"organizationId": "{org_a}", "username": "vera"},
             expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("LoadClients", "get", f"{UM}/LoadClients?organizationId={{org_a}}", expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("CreateClient", "post", f"{UM}/CreateClient", {"organizationId": "{org_a}", "kind": "api",
                                                             "name": "extra"}, expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("RotateClientSecret", "post", f"{UM}/RotateClientSecret",
             {"organizationId": "{org_a}", "clientId": "{relay_a}"}, expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("RevokeClient", "post", f"{UM}/RevokeClient", {"organizationId": "{org_a}", "clientId": "{relay_a}"},
             expect=PEOPLE_ONLY_ADMIN_A),
    Endpoint("DeleteUserAccount", "delete", f"{UM}/DeleteUserAccount", expect=PEOPLE_ONLY_ANY),
]


@pytest.fixture
def world(org_a, org_b, event_a, event_b, viewer_a, editor_a, admin_a, admin_b, relay_a, relay_b, api_client_a):
    return {
        "org_a": org_a, "org_b": org_b, "event_a": event_a, "event_b": event_b,
        "viewer_a": viewer_a, "editor_a": editor_a, "admin_a": admin_a, "admin_b": admin_b,
        "relay_a": relay_a[0], "relay_b": relay_b[0], "api_a": api_client_a[0],
    }


def _bad_token(kind: str, client, settings) -> str:
    from apps.orgs.signing import public_jwk, secret_fingerprint, signing_key_load

    now = int(time.time())
    claims = {"iss": settings.JWT_LOCAL_ISSUER, "aud": settings.OIDC_AUDIENCE, "azp": client.client_id,
              "client_id": client.client_id, "sub": "svc", "iat": now, "nbf": now, "exp": now + 300,
              "jti": str(uuid.uuid4()), "sfp": secret_fingerprint(secret_hash=client.secret_hash)}
    claims.update({
        "expired": {"iat": now - 900, "nbf": now - 900, "exp": now - 600},
        "not_yet_valid": {"nbf": now + 600, "iat": now},
        "wrong_audience": {"aud": "another-api"},
        "wrong_issuer": {"iss": "https://evil.example/realms/redmist"},
    }.get(kind, {}))
    key = signing_key_load()
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": public_jwk(key=key)["kid"]})
    if kind == "tampered":
        header, payload, signature = token.split(".")
        body = json.loads(base64.urlsafe_b64decode(payload + "=="))
        body["exp"] = now + 86400
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
        token = f"{header}.{payload}.{signature}"
    return token


def _caller_client(caller: str, world, machine_token, settings) -> APIClient:
    api = APIClient()
    if caller in PEOPLE:
        api.force_login(world[caller])
    elif caller in MACHINES:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {machine_token(world[caller])}")
    elif caller in BAD_TOKENS:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {_bad_token(caller, world['relay_a'], settings)}")
    return api


def _fill(value, world):
    ids = {"event_a": world["event_a"].id, "org_a": world["org_a"].id, "relay_a": world["relay_a"].client_id}
    if isinstance(value, str):
        for key, replacement in ids.items():
            if value == "{" + key + "}":
                return replacement
            value = value.replace("{" + key + "}", str(replacement))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _org_a_state(world) -> tuple:
    org = Organization.objects.get(pk=world["org_a"].pk)
    events = list(Event.objects.filter(organization=org).order_by("id").values_list(
        "id", "name", "is_active", "is_deleted", "track_name"))
    members = sorted(Membership.objects.filter(organization=org).values_list("user__username", "role"))
    clients = sorted([*RelayClient.objects.filter(organization=org).values_list("client_id", "secret_hash", "is_active"),
                      *ApiClient.objects.filter(organization=org).values_list("client_id", "secret_hash", "is_active")])
    return (org.name, org.website, org.is_deleted, events, members, clients)


def _each_caller_rolled_back(check, world, machine_token, settings):
    """Run check(caller, api) for every caller, each inside a savepoint that is rolled back: every caller meets the
    same fresh org A, at the cost of one fixture set-up per endpoint. Returns the failures."""
    from django.db import transaction

    clients = {caller: _caller_client(caller, world, machine_token, settings) for caller in CALLERS}
    failures = []
    for caller in CALLERS:
        with transaction.atomic():
            try:
                check(caller, clients[caller])
            except AssertionError as exc:
                failures.append(f"{caller}: {exc}")
            transaction.set_rollback(True)
    return failures


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_management_endpoint_answers_every_caller_as_expected(endpoint, world, machine_token, settings):
    def check(caller, api):
        before = _org_a_state(world)
        path = _fill(endpoint.path, world)
        body = _fill(endpoint.body, world)
        call = getattr(api, endpoint.method)
        response = call(path, body, format="json") if body is not None else call(path)
        expected = endpoint.status_for(caller)
        assert response.status_code == expected, f"got {response.status_code}, expected {expected}: {response.content[:200]}"
        if caller in OUTSIDERS:
            assert _org_a_state(world) == before, "changed org A"
            if response.status_code == 200:
                text = response.content.decode("utf-8", "replace")
                assert "Alpha" not in text and world["relay_a"].client_id not in text, f"read org A: {text[:200]}"

    assert _each_caller_rolled_back(check, world, machine_token, settings) == []


# --- the relay socket ------------------------------------------------------------------------------------------

@pytest.fixture
def fresh_relay_bus(clean_redis):
    from apps.relay.bus import bus_reset
    from apps.relay.liveness import liveness_reset

    bus_reset()
    liveness_reset()
    yield
    bus_reset()


async def _relay_socket_outcome(caller, world, machine_token, settings) -> str:
    """Connect as the caller, say hello for org A's event and send one RMonitor line; name what happened."""
    from channels.db import database_sync_to_async
    from django.conf import settings as live_settings
    from django.contrib.sessions.backends.db import SessionStore

    from redmist.asgi import application

    headers = []
    if caller in MACHINES:
        token = await database_sync_to_async(machine_token)(world[caller])
        headers = [(b"authorization", f"Bearer {token}".encode())]
    elif caller in BAD_TOKENS:
        headers = [(b"authorization", f"Bearer {_bad_token(caller, world['relay_a'], settings)}".encode())]
    elif caller in PEOPLE:  # a signed-in browser session is not a relay credential
        session = SessionStore()
        session["_auth_user_id"] = str(world[caller].pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        await database_sync_to_async(session.save)()
        headers = [(b"cookie", f"{live_settings.SESSION_COOKIE_NAME}={session.session_key}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/relay/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    first = await communicator.receive_json_from() if not headers or caller not in ("relay_a", "relay_b") else None
    if first is not None:
        closed = await communicator.receive_output()
        return f"{first.get('code')}/{closed.get('code')}"
    await communicator.send_json_to({"type": "hello", "event_id": world["event_a"].pk, "epoch": uuid.uuid4().hex,
                                     "version": "1.0"})
    hello = await communicator.receive_json_from()
    await communicator.send_json_to({"type": "rmonitor", "id": 1, "session_id": 1, "data": "$F,1"})
    sent = await communicator.receive_json_from()
    await communicator.disconnect()
    return f"{hello.get('type') if hello['type'] == 'welcome' else hello.get('code')}/{sent.get('type') if sent['type'] == 'ack' else sent.get('code')}"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_every_caller_of_the_relay_socket_gets_the_expected_answer(world, machine_token, settings,
                                                                         fresh_relay_bus):
    """Only org A's relay may send to org A's event; org B's relay is told the event is not its own; everyone
    else (people, API clients, anonymous, bad tokens) is refused at connect and disconnected with 4401."""
    from apps.relay.bus import bus_get

    expected = {caller: "unauthorized/4401" for caller in CALLERS}
    expected.update(relay_a="welcome/ack", relay_b="forbidden/no_hello")
    seen = {}
    for caller in CALLERS:
        before = await bus_get().length(event_id=world["event_a"].pk)
        seen[caller] = await _relay_socket_outcome(caller, world, machine_token, settings)
        appended = await bus_get().length(event_id=world["event_a"].pk) - before
        assert appended == (1 if caller == "relay_a" else 0), caller
    assert seen == expected


VIEWER_SUBSCRIPTIONS = [
    ("SubscribeToEventV2WithCode", []), ("SubscribeToEvent", []), ("SubscribeToControlLogs", []),
    ("SubscribeToCarControlLogs", ["7"]), ("SubscribeToInCarDriverEventV2", ["7"]),
    ("SubscribeToInCarDriverEvent", ["7"]),
]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_every_viewer_socket_subscription_needs_the_private_events_code_whoever_asks(
        world, machine_token, settings, clean_redis):
    from channels.db import database_sync_to_async
    from channels.routing import URLRouter

    from apps.events.selectors import ACCESS_DENIED_MESSAGE
    from apps.timing.fanout import hubs_close, hubs_reset
    from redmist.routing import websocket_urlpatterns

    hubs_reset()
    app = URLRouter(websocket_urlpatterns)
    event_a = world["event_a"]
    await Event.objects.filter(pk=event_a.pk).aupdate(is_private=True, access_code="1234")
    failures = []
    try:
        for caller in CALLERS:
            headers = []
            if caller in MACHINES:
                token = await database_sync_to_async(machine_token)(world[caller])
                headers = [(b"authorization", f"Bearer {token}".encode())]
            elif caller in BAD_TOKENS:
                headers = [(b"authorization", f"Bearer {_bad_token(caller, world['relay_a'], settings)}".encode())]
            communicator = WebsocketCommunicator(app, "/ws/status/", headers=headers)
            connected, _ = await communicator.connect()
            assert connected, caller
            for number, (method, extra) in enumerate(VIEWER_SUBSCRIPTIONS):
                for code in (None, "1234"):
                    invocation = f"{number}-{code}"
                    await communicator.send_json_to({"id": invocation, "method": method,
                                                     "args": [event_a.pk, *extra, code]})
                    reply = await communicator.receive_json_from()
                    while reply.get("id") != invocation:
                        reply = await communicator.receive_json_from()
                    expected = "ok" if code else "error"
                    if reply["type"] != expected or (code is None and reply["error"] != ACCESS_DENIED_MESSAGE):
                        failures.append(f"{caller} {method} code={code}: {reply}")
            await communicator.disconnect()
    finally:
        await hubs_close()  # before the loop closes (see hubs_close)
    assert failures == []


# --- the status API ---------------------------------------------------------------------------------------------


def _status_actions():
    from apps.events.api_status import EVENT_ACTIONS, ORGANIZATION_ACTIONS, V2_ONLY

    cases = [(f"/status/v1/Events/{name}", view) for name, view in EVENT_ACTIONS.items()]
    cases += [(f"/status/v2/Events/{name}", view) for name, view in V2_ONLY.items()]
    cases += [(f"/status/v1/Organization/{name}", view) for name, view in ORGANIZATION_ACTIONS.items()]
    return cases


STATUS_QUERY = "eventId={event_a}&sessionId=1&car=7&carNumber=7&organizationId={org_a}&startDateUtc=2026-04-20"


@pytest.mark.parametrize(("path", "view"), _status_actions(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_status_endpoint_answers_every_caller_as_expected(path, view, world, machine_token, settings,
                                                                 clean_redis):
    from django.utils import timezone
    from rest_framework.permissions import IsAuthenticated

    from apps.events.models import Session

    settings.STATUS_THROTTLE_RATES = {}
    event_a = world["event_a"]
    Event.objects.filter(pk=event_a.pk).update(is_private=True, access_code="1234")
    Session.objects.create(event=event_a, session_id=1, name="Race", start_time=timezone.now())
    event_scoped = "event_checked" in view.get.__code__.co_names
    needs_login = any(p is IsAuthenticated for p in view.permission_classes)

    def check(caller, api):
        for with_code in (False, True):
            headers = {"HTTP_X_EVENT_ACCESS_CODE": "1234"} if with_code else {}
            status = api.get(f"{path}?{_fill(STATUS_QUERY, world)}", **headers).status_code
            if caller in BAD_TOKENS or (needs_login and caller == "anonymous") or (event_scoped and not with_code):
                assert status == 401, f"code={with_code}: got {status}, expected 401"
            else:
                assert status not in (401, 403), f"code={with_code}: got {status}, expected to be let through"

    assert _each_caller_rolled_back(check, world, machine_token, settings) == []
