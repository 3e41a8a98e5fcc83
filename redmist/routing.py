"""WebSocket routes."""

from django.urls import path

from apps.relay.consumers import RelayConsumer
from apps.timing.consumers import StatusConsumer

websocket_urlpatterns: list = [
    path("ws/relay/", RelayConsumer.as_asgi()),
    path("ws/status/", StatusConsumer.as_asgi()),
]
