"""An event is live while its relay talks, and stops being live after the silence timeout."""

import pytest

from apps.relay.liveness import live_event_mark, live_events_list

pytestmark = [pytest.mark.asyncio]


async def test_an_event_is_live_after_a_mark_and_expires_after_the_timeout(settings):
    settings.EVENT_LIVE_TIMEOUT_SECONDS = 600
    await live_event_mark(event_id=41, now=1000.0)
    assert 41 in await live_events_list(now=1000.0 + 599)
    assert 41 not in await live_events_list(now=1000.0 + 601)
    assert 41 not in await live_events_list(now=1000.0 + 1)  # expired entries are removed, not just hidden


async def test_marks_are_throttled_so_a_busy_relay_costs_little(settings):
    assert await live_event_mark(event_id=42, now=2000.0)
    assert not await live_event_mark(event_id=42, now=2000.5)
    assert await live_event_mark(event_id=42, now=2003.0)
