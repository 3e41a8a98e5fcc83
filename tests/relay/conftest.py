import base64

import pytest

from apps.relay.bus import bus_reset
from apps.relay.liveness import liveness_reset


@pytest.fixture(autouse=True)
def fresh_bus(clean_redis):
    bus_reset()
    liveness_reset()
    yield
    bus_reset()


def basic_auth(client_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{client_id}:{secret}".encode())
    return [(b"authorization", b"Basic " + token)]
