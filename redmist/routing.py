"""WebSocket routes."""

from django.urls import path

from apps.relay.consumers import RelayConsumer

websocket_urlpatterns: list = [
    path("ws/relay/", RelayConsumer.as_asgi()),
]
