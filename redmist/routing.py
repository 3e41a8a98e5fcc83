"""WebSocket routes."""

from django.urls import path

from apps.relay.consumers import RelayConsumer
from apps.relay.hub import RelayHubConsumer
from apps.timing.consumers import StatusConsumer

websocket_urlpatterns: list = [
    path("ws/relay/", RelayConsumer.as_asgi()),
    path("ws/status/", StatusConsumer.as_asgi()),
    path("relay/hub", RelayHubConsumer.as_asgi()),  # SignalR relays (docs/live-pipeline.md)
]
