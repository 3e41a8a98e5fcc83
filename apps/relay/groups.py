"""Channel-layer group of an event's relay connections: how the timing worker reaches the relay."""


def relay_group_name(event_id: int) -> str:
    return f"relay-event-{event_id}"
