import base64

import pytest

from apps.orgs.services import relay_client_create
from apps.relay.bus import bus_reset
from apps.relay.liveness import liveness_reset


@pytest.fixture(autouse=True)
def fresh_bus(clean_redis):
    bus_reset()
    liveness_reset()
    yield
    bus_reset()


@pytest.fixture
def relay_a(org_a):
    client, secret = relay_client_create(organization=org_a)
    return client, secret


@pytest.fixture
def relay_b(org_b):
    client, secret = relay_client_create(organization=org_b)
    return client, secret


def basic_auth(client_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{client_id}:{secret}".encode())
    return [(b"authorization", b"Basic " + token)]
