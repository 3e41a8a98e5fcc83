"""WebSocket routes. The relay and viewer consumers register here as they are built."""

websocket_urlpatterns: list = []
