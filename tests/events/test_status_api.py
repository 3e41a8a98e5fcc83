"""Status REST API: shapes, 404s, access codes, JSON == MessagePack, the two-level cache, 304s and throttling."""

import base64
import datetime as dt

import msgpack
import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from apps.controllog.models import ControlLogEntry
from apps.events.models import CompetitorMetadata, Session, SessionResult
from apps.events.selectors import l1_clear
from apps.events.services import event_create
from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition
from apps.timing.models import CarLap, FlagPeriod
from tests.timing.viewer_support import race_messages, state_store_reset

ACCESS_ERROR = "Access code required or invalid for this event."
MSGPACK = "application/x-msgpack"


@pytest.fixture(autouse=True)
def _fresh(settings, clean_redis):
    settings.STATUS_THROTTLE_RATES = {"status": None, "status_client": None}
    cache.clear()
    l1_clear()
    state_store_reset()
    yield
    l1_clear()


@pytest.fixture
def api():
    return APIClient()


def _car(number, lap, pos):
    return wire.car_to_json(CarPosition(number=number, last_lap_completed=lap, overall_position=pos,
                                        last_lap_time="00:01:40.000", last_lap_pitted=lap - 1), "db")


@pytest.fixture
def race(event_a):
    """event_a, live, with a session that has laps, one without anything (hidden), results, flags and logs."""
    event_a.is_active = event_a.is_live = True
    event_a.track_name = "Road Atlanta"
    event_a.save()
    start = timezone.now() - dt.timedelta(hours=1)
    shown = Session.objects.create(event=event_a, session_id=67, name="Race", start_time=start)
    Session.objects.create(event=event_a, session_id=68, name="Run change", start_time=start)
    for number in ("7", "12"):
        for lap in (1, 2):
            CarLap.objects.create(event=event_a, session=shown, car_number=number, lap_number=lap, timestamp=start,
                                  flag=1, car=_car(number, lap, 1 if number == "7" else 2))
    FlagPeriod.objects.create(event=event_a, session=shown, flag=2, start_time=start, end_time=start + dt.timedelta(minutes=3))
    FlagPeriod.objects.create(event=event_a, session=shown, flag=1, start_time=start + dt.timedelta(minutes=3))
    SessionResult.objects.create(event=event_a, session=shown, start=start,
                                 session_state={"eventId": event_a.pk, "sessionId": 67, "sessionName": "Race",
                                                "carPositions": [wire.car_to_json(CarPosition(number="7"))]},
                                 control_logs=[{"o": 1, "n": "Contact", "c1": "7"}])
    CompetitorMetadata.objects.create(event=event_a, car_number="7", first_name="Ada", last_name="Lovelace", make="Mazda")
    ControlLogEntry.objects.create(event=event_a, order_id=1, car1="7", note="Contact T3")
    ControlLogEntry.objects.create(event=event_a, order_id=2, car1="12", note="Track limits")
    return event_a


@pytest.fixture
def private_race(org_a):
    event = event_create(organization=org_a, name="Private test", start_date=dt.date(2026, 5, 4), is_private=True,
                         access_code="4242", is_active=True)
    Session.objects.create(event=event, session_id=1, name="Test", start_time=timezone.now(), is_live=True)
    return event


def _get(api, action, version="v2", accept=None, code=None, controller="Events", **params):
    headers = {}
    if accept:
        headers["HTTP_ACCEPT"] = accept
    if code is not None:
        headers["HTTP_X_EVENT_ACCESS_CODE"] = code
    prefix = f"/status/{version}/" if version else "/status/"
    return api.get(f"{prefix}{controller}/{action}", params, **headers)


def _unpack(response):
    return msgpack.unpackb(response.content, raw=False, strict_map_key=False, timestamp=3)


@pytest.mark.django_db
class TestEventLists:
    def test_live_events_lists_only_active_live_events_with_the_summary_names(self, api, race, event_b):
        body = _get(api, "LoadLiveEvents").json()
        assert [e["eid"] for e in body] == [race.pk]
        assert set(body[0]) == {"eid", "oid", "on", "en", "ed", "l", "t", "s", "sim", "arch", "hasResults", "priv", "hn"}
        assert body[0]["en"] == "Alpha 8 Hours" and body[0]["t"] == "Road Atlanta" and body[0]["hasResults"] is True

    def test_live_and_recent_puts_live_first_and_hides_names_when_the_event_says_so(self, api, race, event_b):
        event_b.hide_name = True
        event_b.save()
        body = _get(api, "LoadLiveAndRecentEvents").json()
        assert [e["eid"] for e in body] == [race.pk, event_b.pk]
        assert body[1]["en"] == "" and body[1]["hn"] is True

    def test_archived_events_are_paged_and_a_page_over_100_is_refused(self, api, org_a):
        for day in range(1, 6):
            event_create(organization=org_a, name=f"Old {day}", start_date=dt.date(2025, 1, day), is_archived=True)
        first = _get(api, "LoadArchivedEvents", offset=0, take=3).json()
        second = _get(api, "LoadArchivedEvents", offset=3, take=3).json()
        assert [e["en"] for e in first] == ["Old 5", "Old 4", "Old 3"]
        assert [e["en"] for e in second] == ["Old 2", "Old 1"]
        assert _get(api, "LoadArchivedEvents", take=101).status_code == 400
        assert _get(api, "LoadArchivedEvents", version="v1").status_code == 404  # V2 only

    def test_load_events_needs_authentication(self, api, race):
        assert _get(api, "LoadEvents", startDateUtc=dt.date.today().isoformat()).status_code in (401, 403)


@pytest.mark.django_db
class TestOneEvent:
    def test_an_event_has_its_fields_and_only_the_sessions_with_something_to_show(self, api, race):
        body = _get(api, "LoadEvent", eventId=race.pk).json()
        assert body["e"] == race.pk and body["n"] == "Alpha 8 Hours" and body["on"] == "Alpha Racing"
        assert body["il"] is True and body["priv"] is False and body["organizationId"] == race.organization_id
        assert [s["sid"] for s in body["s"]] == [67]
        assert set(body["s"][0]) == {"sid", "eid", "n", "st", "et", "tz", "lu", "il", "pq"}
        assert [s["n"] for s in _get(api, "LoadSessions", eventId=race.pk).json()] == ["Race"]

    @pytest.mark.parametrize("version", ["v1", "v2", None])
    def test_every_version_prefix_and_any_letter_case_reach_it(self, api, race, version):
        assert _get(api, "LoadEvent", version=version, eventId=race.pk).json()["e"] == race.pk
        assert api.get(f"/status/v2/events/loadevent?EVENTID={race.pk}").json()["e"] == race.pk

    def test_a_missing_or_deleted_event_is_404_and_a_missing_parameter_400(self, api, race):
        assert _get(api, "LoadEvent", eventId=999999).status_code == 404
        race.is_deleted = True
        race.save()
        assert _get(api, "LoadEvent", eventId=race.pk).status_code == 404
        assert _get(api, "LoadEvent").status_code == 400
        assert _get(api, "NoSuchAction", eventId=1).status_code == 404

    def test_messagepack_carries_the_same_data_as_positional_arrays(self, api, race):
        as_json = _get(api, "LoadEvent", eventId=race.pk).json()
        response = _get(api, "LoadEvent", eventId=race.pk, accept=MSGPACK)
        assert response["Content-Type"] == MSGPACK
        arr = _unpack(response)
        assert (arr[0], arr[1], arr[5], arr[14], arr[17]) == (as_json["e"], as_json["n"], as_json["on"], True, race.organization_id)
        assert arr[4][0][0] == 67 and arr[4][0][2] == "Race"
        laps = _unpack(_get(api, "LoadCarLaps", accept=MSGPACK, eventId=race.pk, sessionId=67, carNumber="7"))
        assert [lap[2] for lap in laps] == ["7", "7"] and [lap[15] for lap in laps] == [1, 2] and laps[0][61] is False
        # an unmatched Accept falls back to JSON, never 406
        assert _get(api, "LoadEvent", eventId=race.pk, accept="text/csv").json()["e"] == race.pk


@pytest.mark.django_db
class TestSessionData:
    def test_car_laps_and_session_laps_are_car_positions_in_lap_order(self, api, race):
        laps = _get(api, "LoadCarLaps", eventId=race.pk, sessionId=67, carNumber="12").json()
        assert [(c["n"], c["llp"], c["ovp"]) for c in laps] == [("12", 1, 2), ("12", 2, 2)]
        assert laps[1]["lastLapPitted"] == 1 and "LastLapPitted" not in laps[1]
        every = _get(api, "LoadSessionLaps", eventId=race.pk, sessionId=67).json()
        assert [(c["n"], c["llp"]) for c in every] == [("12", 1), ("12", 2), ("7", 1), ("7", 2)]
        assert _get(api, "LoadCarLaps", eventId=race.pk, sessionId=99, carNumber="7").json() == []

    def test_flags_results_and_the_historical_control_log(self, api, race):
        flags = _get(api, "LoadFlags", eventId=race.pk, sessionId=67).json()
        assert [f["f"] for f in flags] == [2, 1] and flags[1]["e"] is None and flags[0]["e"]
        results = _get(api, "LoadSessionResults", eventId=race.pk, sessionId=67).json()
        assert results["sessionName"] == "Race" and results["carPositions"][0]["n"] == "7"
        assert _get(api, "LoadSessionResults", eventId=race.pk, sessionId=68).json() is None
        assert _get(api, "LoadSessionHistoricalControlLog", eventId=race.pk, sessionId=67).json()[0]["n"] == "Contact"
        arr = _unpack(_get(api, "LoadSessionResults", eventId=race.pk, sessionId=67, accept=MSGPACK))
        assert arr[3] == "Race" and arr[14][0][2] == "7"

    def test_the_live_control_log_one_cars_log_and_competitor_metadata(self, api, race):
        log = _get(api, "LoadControlLog", eventId=race.pk).json()
        assert [e["n"] for e in log] == ["Contact T3", "Track limits"]
        assert set(log[0]) == {"o", "t", "cor", "c1", "c1h", "c2", "c2h", "n", "s", "a", "on"}
        car = _get(api, "LoadCarControlLogs", eventId=race.pk, car="7").json()
        assert car["cn"] == "7" and [e["n"] for e in car["entries"]] == ["Contact T3"]
        meta = _get(api, "LoadCompetitorMetadata", eventId=race.pk, car="7").json()
        assert (meta["n"], meta["fn"], meta["ln"], meta["mk"]) == ("7", "Ada", "Lovelace", "Mazda")
        assert _get(api, "LoadCompetitorMetadata", eventId=race.pk, car="99").json() is None
        assert _get(api, "LoadEventCompetitorMetadata", eventId=race.pk).status_code in (401, 403)

    def test_the_current_session_state_is_the_workers_state_in_messagepack_or_json(self, api, race):
        from apps.timing.engine.engine import TimingEngine
        from apps.timing.worker.coordination import memory_coordinator

        assert _get(api, "GetCurrentSessionState", eventId=race.pk).status_code == 404
        engine = TimingEngine(race.pk)
        for m in race_messages()[:400]:
            engine.apply(m.kind, m.payload, session_id=0, received_at=m.received_at)
        import asyncio

        if not _redis():
            asyncio.run(memory_coordinator().state_save(event_id=race.pk, state=engine.state_msgpack(), seq=engine.seq))
        else:
            import redis

            from apps.timing.worker.coordination import state_key
            from django.conf import settings

            redis.Redis.from_url(settings.REDIS_URL).hset(state_key(race.pk), mapping={"state": engine.state_msgpack(),
                                                                                     "seq": engine.seq})
        response = _get(api, "GetCurrentSessionState", eventId=race.pk, accept="application/json")
        assert response["Content-Type"] == MSGPACK and response["X-RedMist-Seq"] == str(engine.seq)
        assert response.content == engine.state_msgpack()
        assert _get(api, "GetCurrentSessionStateJson", eventId=race.pk).json() == engine.state_json()
        car = engine.state_json()["carPositions"][3]["n"]
        in_car = _get(api, "LoadInCarPayload", eventId=race.pk, car=car).json()
        assert in_car["n"] == car and len(in_car["c"]) == 5 and in_car["c"][2]["n"] == car


def _redis():
    from django.conf import settings

    return bool(settings.REDIS_URL)


@pytest.mark.django_db
class TestAccessCodes:
    ENDPOINTS = [
        ("LoadEvent", {}), ("LoadSessions", {}), ("GetCurrentSessionState", {}), ("GetCurrentSessionStateJson", {}),
        ("LoadInCarPayload", {"car": "1"}), ("LoadSessionResults", {"sessionId": 1}),
        ("LoadCarLaps", {"sessionId": 1, "carNumber": "1"}), ("LoadSessionLaps", {"sessionId": 1}),
        ("LoadFlags", {"sessionId": 1}), ("LoadControlLog", {}), ("LoadSessionHistoricalControlLog", {"sessionId": 1}),
        ("LoadCarControlLogs", {"car": "1"}), ("LoadCompetitorMetadata", {"car": "1"}),
    ]

    @pytest.mark.parametrize("action,params", ENDPOINTS)
    def test_a_private_event_refuses_a_missing_or_wrong_code_and_accepts_the_right_one(self, api, private_race, action, params):
        for code in (None, "4241", " 4242"):
            response = _get(api, action, code=code, eventId=private_race.pk, **params)
            assert response.status_code == 401, (action, code)
            assert response.json()["detail"] == ACCESS_ERROR
        response = _get(api, action, code="4242", eventId=private_race.pk, **params)
        assert response.status_code in (200, 404) and response.status_code != 401
        if action == "LoadEvent":
            assert response.json()["priv"] is True and "private" in response["Cache-Control"]

    def test_private_events_are_listed_with_their_flag_but_no_data(self, api, private_race):
        private_race.is_live = True
        private_race.save()
        body = _get(api, "LoadLiveEvents").json()
        assert [(e["eid"], e["priv"]) for e in body] == [(private_race.pk, True)]


@pytest.mark.django_db
class TestOrganization:
    def test_the_organization_its_logo_and_the_list(self, api, org_a):
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
        org_a.logo = png
        org_a.website = "https://alpha.example"
        org_a.save()
        body = _get(api, "LoadOrganization", version="v1", controller="Organization", organizationId=org_a.pk).json()
        assert body["name"] == "Alpha Racing" and base64.b64decode(body["logo"]) == png
        arr = _unpack(_get(api, "LoadOrganization", controller="Organization", version=None, accept=MSGPACK,
                           organizationId=org_a.pk))
        assert arr[1] == "Alpha Racing" and arr[4] == png
        icon = _get(api, "GetOrganizationIcon", controller="Organization", version=None, organizationId=org_a.pk)
        assert icon["Content-Type"] == "image/png" and icon.content == png
        assert [o["name"] for o in _get(api, "GetOrganizations", controller="Organization", version="v1").json()] == ["Alpha Racing"]
        assert _get(api, "GetOrganizationIcon", controller="Organization", version=None, organizationId=99999).status_code == 404


@pytest.mark.django_db
class TestCachingAndConditionalRequests:
    def test_a_second_call_is_served_from_the_cache_and_a_change_invalidates_it(self, api, race, django_assert_num_queries):
        first = _get(api, "LoadEvent", eventId=race.pk)
        with django_assert_num_queries(0):
            second = _get(api, "LoadEvent", eventId=race.pk)
        assert second.content == first.content
        l1_clear()  # level 2 (the shared cache) still has it
        with django_assert_num_queries(0):
            assert _get(api, "LoadEvent", eventId=race.pk).content == first.content
        race.track_name = "Sebring"
        race.save()
        assert _get(api, "LoadEvent", eventId=race.pk).json()["t"] == "Sebring"
        ControlLogEntry.objects.create(event=race, order_id=3, car1="7", note="Drive-through")
        assert len(_get(api, "LoadControlLog", eventId=race.pk).json()) == 3

    def test_etag_and_last_modified_give_304_and_a_change_gives_200(self, api, race):
        first = _get(api, "LoadSessions", eventId=race.pk)
        etag, modified = first["ETag"], first["Last-Modified"]
        again = api.get("/status/v2/Events/LoadSessions", {"eventId": race.pk}, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
        since = api.get("/status/v2/Events/LoadSessions", {"eventId": race.pk}, HTTP_IF_MODIFIED_SINCE=modified)
        assert since.status_code == 304
        packed = _get(api, "LoadSessions", eventId=race.pk, accept=MSGPACK)
        assert packed["ETag"] != etag  # one validator per representation
        Session.objects.filter(session_id=68).update(is_live=True)
        Session.objects.get(session_id=68).save()
        changed = api.get("/status/v2/Events/LoadSessions", {"eventId": race.pk}, HTTP_IF_NONE_MATCH=etag)
        assert changed.status_code == 200 and len(changed.json()) == 2


@pytest.mark.django_db
def test_polling_too_fast_gets_429_with_retry_after_per_address(api, race, settings):
    settings.STATUS_THROTTLE_RATES = {"status": "3/min", "status_client": None}
    codes = [_get(api, "LoadLiveEvents").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = _get(api, "LoadLiveEvents")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    other = api.get("/status/v2/Events/LoadLiveEvents", HTTP_CF_CONNECTING_IP="203.0.113.9")
    assert other.status_code == 200


@pytest.mark.django_db
def test_the_openapi_schema_describes_every_status_action_and_validates(api):
    from drf_spectacular.validation import validate_schema

    response = api.get("/status/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    for action in ("LoadLiveEvents", "LoadEvent", "GetCurrentSessionState", "LoadCarLaps", "LoadArchivedEvents"):
        assert f"/status/v2/Events/{action}" in schema["paths"]
    assert "/status/v1/Organization/GetOrganizationIcon" in schema["paths"]
    assert api.get("/status/swagger/").status_code == 200
