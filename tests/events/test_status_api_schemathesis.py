"""Property-based checks of the status API against its own OpenAPI schema (`/status/schema/`), with schemathesis.

Django's live server runs the whole application; schemathesis loads the schema from it over HTTP and, for every
GET operation under /status/, generates a few requests from the schema (bounded: `MAX_EXAMPLES` each) and checks
the responses: never a server error, a status code, content type and body that the schema documents.
"""

import datetime as dt
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.events.services import event_create
from apps.timing.engine.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages
from apps.timing.worker.coordination import memory_coordinator, state_key

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "recordings" / "redmist"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def status_data(org_a, event_a, settings, clean_redis):
    settings.STATUS_THROTTLE_RATES = {"status": None, "status_client": None}  # hundreds of requests from one address
    private = event_create(organization=org_a, name="Secret Test Day", start_date=dt.date(2026, 5, 3),
                           is_private=True, access_code="4242")
    # a live state as the timing worker saves it, so the live-state actions answer 200 with a real SessionState
    engine = TimingEngine(event_a.pk)
    for message in [*read_messages(RECORDINGS / "TestEntries.txt"), *read_messages(RECORDINGS / "TestInitialPositions.txt")]:
        engine.apply(message.kind, message.payload, session_id=0, received_at=message.received_at)
    for event in (event_a, private):
        _state_save(event.pk, engine.state_msgpack())
    return org_a, event_a, private


def _state_save(event_id: int, state: bytes) -> None:
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.hset(state_key(event_id), mapping={"state": state, "seq": 7})
        client.close()
    else:
        memory_coordinator()._states[event_id] = (state, 7)


def _real_cases(operation, org, public, private):
    """The operation called with ids that exist: the public event, and the private one with and without its code."""
    first_car = "2"
    values = {"eventid": None, "sessionid": 0, "car": first_car, "carnumber": first_car, "organizationid": org.pk,
              "startdateutc": dt.date.today().isoformat(), "offset": 0, "take": 10}
    names = [p.name for p in operation.iter_parameters() if p.location == "query"]
    cases = []
    for event, code in ((public, None), (private, "4242"), (private, None)):
        query = {n: (event.pk if n.lower() == "eventid" else values[n.lower()]) for n in names if n.lower() in values}
        headers = {"X-Event-Access-Code": code} if code else {}
        cases.append(operation.Case(query=query, headers=headers))
    return cases


def test_every_status_get_operation_conforms_to_the_schema(live_server, status_data):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/status/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.method.upper() == "GET" and op.path.startswith("/status/")]
    assert len(operations) > 50, [op.label for op in operations]
    failures: dict[str, str] = {}
    statuses: list[int | None] = []
    calls = 0

    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            nonlocal calls
            calls += 1
            _call(case, live_server.url, operation.label, failures)

        run()
        for case in _real_cases(operation, *status_data):
            calls += 1
            statuses.append(_call(case, live_server.url, operation.label, failures))

    assert calls >= 4 * len(operations)
    assert statuses.count(200) > len(operations), "the real-data calls must mostly succeed"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def _call(case, base_url: str, label: str, failures: dict[str, str]) -> int | None:
    try:
        return case.call_and_validate(base_url=base_url, checks=CHECKS).status_code
    except (Exception, FailureGroup) as exc:  # keep going: report every operation that fails, not just the first
        failures.setdefault(label, f"{type(exc).__name__}: {exc}"[:1500])
        return None
