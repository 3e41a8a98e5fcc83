"""Property-based checks of the status API against its own OpenAPI schema (`/status/schema/`), with schemathesis.

Django's live server runs the whole application; schemathesis loads the schema from it over HTTP and, for every
GET operation under /status/, generates a few requests from the schema (bounded: `MAX_EXAMPLES` each) and checks
the responses: never a server error, a status code, content type and body that the schema documents.
"""

import datetime as dt

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

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def status_data(org_a, event_a, settings):
    settings.STATUS_THROTTLE_RATES = {"status": None, "status_client": None}  # hundreds of requests from one address
    private = event_create(organization=org_a, name="Secret Test Day", start_date=dt.date(2026, 5, 3),
                           is_private=True, access_code="4242")
    return event_a, private


def test_every_status_get_operation_conforms_to_the_schema(live_server, status_data):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/status/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.method.upper() == "GET" and op.path.startswith("/status/")]
    assert len(operations) > 50, [op.label for op in operations]
    failures: dict[str, str] = {}
    calls = 0

    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            nonlocal calls
            calls += 1
            try:
                case.call_and_validate(base_url=live_server.url, checks=CHECKS)
            except (Exception, FailureGroup) as exc:  # keep going: report every operation that fails, not just the first
                failures.setdefault(operation.label, f"{type(exc).__name__}: {exc}"[:1500])

        run()

    assert calls >= len(operations)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
