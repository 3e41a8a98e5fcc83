"""The timing worker, driven in-process: the same messages give the same state as a direct replay,
laps land in the database once each, and a new owner resumes from the snapshot without loss."""

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from channels.layers import InMemoryChannelLayer

from apps.relay.bus import BusMessage
from apps.relay.bus_memory import InProcessBus
from apps.timing.engine.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages, replay
from apps.timing.models import CarLap
from apps.timing.worker.coordination import MemoryCoordinator
from apps.timing.worker.runner import EventRunner, WorkerConfig

RECORDINGS = Path(__file__).resolve().parents[3] / "data" / "recordings" / "redmist"
START_SEQUENCE = ["TestEntries.txt", "TestInitialPositions.txt", "TestStart.txt"]

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _messages():
    return [m for name in START_SEQUENCE for m in read_messages(RECORDINGS / name)]


def _direct(event_id):
    engine = TimingEngine(event_id)
    stats = replay(engine, _messages())
    return engine, stats


def _bus_message(m) -> BusMessage:
    return BusMessage(kind=m.kind, session_id=0, payload=m.payload,
                      source_time=m.received_at.replace(tzinfo=dt.UTC).timestamp())


def _config():
    return WorkerConfig(snapshot_seconds=0.05, state_seconds=0.05, tick_seconds=3600, read_block_ms=5)


async def _drain(runner, last_entry, timeout=60):
    deadline = asyncio.get_running_loop().time() + timeout
    while runner.last_entry != last_entry:
        assert asyncio.get_running_loop().time() < deadline, "runner did not catch up"
        await asyncio.sleep(0.02)


async def test_the_runner_reaches_the_same_state_as_a_direct_replay_and_stores_each_lap_once(event_a):
    expected, _ = _direct(event_a.pk)
    expected_laps = {(lap.car_number, lap.lap_number) for lap in _collect_laps(event_a.pk)}
    bus, coordinator, layer = InProcessBus(), MemoryCoordinator(), InMemoryChannelLayer(capacity=100_000)
    channel = await layer.new_channel()
    await layer.group_add(f"evt-{event_a.pk}", channel)
    for m in _messages():
        last = (await bus.append(event_id=event_a.pk, message=_bus_message(m))).entry_id
    runner = EventRunner(event_id=event_a.pk, bus=bus, coordinator=coordinator, channel_layer=layer, config=_config())
    task = asyncio.create_task(runner.run())
    await _drain(runner, last)
    await runner.stop()
    await task

    assert runner.engine.state_json() == expected.state_json()
    stored = {(row.car_number, row.lap_number) async for row in CarLap.objects.filter(event=event_a)}
    assert stored == expected_laps and stored
    assert await CarLap.objects.filter(event=event_a).acount() == len(expected_laps)

    first = await layer.receive(channel)
    assert first["type"] == "timing.patches" and first["from_seq"] == 0
    snapshot = await coordinator.snapshot_load(event_id=event_a.pk)
    assert snapshot is not None and TimingEngine.restore(snapshot.engine).state_json() == expected.state_json()
    assert await bus.claim_pending(event_id=event_a.pk, consumer="x") == []


async def test_a_new_owner_resumes_from_the_snapshot_and_reapplies_only_what_it_does_not_cover(event_a):
    expected, _ = _direct(event_a.pk)
    messages = _messages()
    bus, coordinator, layer = InProcessBus(), MemoryCoordinator(), InMemoryChannelLayer(capacity=100_000)
    half = len(messages) // 2
    for m in messages[:half]:
        last = (await bus.append(event_id=event_a.pk, message=_bus_message(m))).entry_id
    first = EventRunner(event_id=event_a.pk, bus=bus, coordinator=coordinator, channel_layer=layer, config=_config())
    task = asyncio.create_task(first.run())
    await _drain(first, last)
    deadline = asyncio.get_running_loop().time() + 30
    while first.stats.snapshots == 0:  # let a snapshot cover part of it
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    # Simulate a crash: the runner dies without its final snapshot; some entries stay pending.
    first.lost_lease = True
    await task
    for m in messages[half:]:
        last = (await bus.append(event_id=event_a.pk, message=_bus_message(m))).entry_id

    second = EventRunner(event_id=event_a.pk, bus=bus, coordinator=coordinator, channel_layer=layer, config=_config())
    task = asyncio.create_task(second.run())
    await _drain(second, last)
    await second.stop()
    await task
    assert second.engine.state_json() == expected.state_json()
    # It re-applied what the snapshot did not cover, never the whole race again.
    assert 0 < second.stats.applied < len(messages)
    laps = [(row.car_number, row.lap_number) async for row in CarLap.objects.filter(event=event_a)]
    assert len(laps) == len(set(laps)) == len({(lap.car_number, lap.lap_number) for lap in _collect_laps(event_a.pk)})


def _collect_laps(event_id):
    engine = TimingEngine(event_id)
    laps = []
    for m in _messages():
        laps += engine.apply(m.kind, m.payload, session_id=engine.session.session_id, received_at=m.received_at).completed_laps
        laps += engine.tick(m.received_at).completed_laps
    return laps


async def test_a_quiet_event_is_closed_with_a_session_result_and_marked_not_live(event_a, settings):
    from apps.events.models import SessionResult
    from apps.relay.liveness import live_event_mark, liveness_reset
    from apps.timing.worker.runner import TimingWorker

    liveness_reset()
    settings.EVENT_LIVE_TIMEOUT_SECONDS = 10
    bus, coordinator, layer = InProcessBus(), MemoryCoordinator(), InMemoryChannelLayer(capacity=100_000)
    for m in _messages():
        last = (await bus.append(event_id=event_a.pk, message=_bus_message(m))).entry_id
    event_a.is_live = True
    await event_a.asave()
    await live_event_mark(event_id=event_a.pk)
    worker = TimingWorker(bus=bus, coordinator=coordinator, channel_layer=layer,
                          config=WorkerConfig(snapshot_seconds=0.05, poll_seconds=0.05, read_block_ms=5))
    task = asyncio.create_task(worker.run())
    deadline = asyncio.get_running_loop().time() + 30
    while not (event_a.pk in worker.runners and worker.runners[event_a.pk].last_entry == last):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    settings.EVENT_LIVE_TIMEOUT_SECONDS = 0  # the relay has gone quiet for longer than the timeout
    while event_a.pk in worker.tasks or event_a.pk in worker.to_mark_not_live:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    worker.stop()
    await task
    await event_a.arefresh_from_db()
    assert not event_a.is_live
    result = await SessionResult.objects.select_related("session").aget(event=event_a, session__session_id=67)
    assert not result.session.is_live
    assert len(result.session_state["carPositions"]) > 10


async def test_the_events_x2_loop_metadata_reaches_the_engine_and_reloads_on_config_change(event_a):
    event_a.loops_metadata = [{"id": 7, "type": 1, "name": "Pit In"}]
    await event_a.asave()
    bus, coordinator, layer = InProcessBus(), MemoryCoordinator(), InMemoryChannelLayer(capacity=100_000)
    runner = EventRunner(event_id=event_a.pk, bus=bus, coordinator=coordinator, channel_layer=layer, config=_config())
    task = asyncio.create_task(runner.run())
    deadline = asyncio.get_running_loop().time() + 30
    while runner.engine is None or not runner.engine.feeds.loops:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    assert runner.engine.feeds.loops[7].name == "Pit In"
    event_a.loops_metadata = [{"id": 7, "type": 1, "name": "Pit Entry"}, {"id": 8, "type": 2, "name": "Pit Out"}]
    await event_a.asave()
    last = (await bus.append(event_id=event_a.pk, message=BusMessage(kind="evtconfchanged", session_id=999999,
                                                                       payload=str(event_a.pk)))).entry_id
    await _drain(runner, last)
    assert {loop_id: loop.name for loop_id, loop in runner.engine.feeds.loops.items()} == {7: "Pit Entry", 8: "Pit Out"}
    await runner.stop()
    await task
