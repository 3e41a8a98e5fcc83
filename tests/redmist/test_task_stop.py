"""task_stop stops a task even when a cancel is swallowed, as Python 3.11's wait_for (and redis-py under it) does."""

import asyncio
import logging
import random
import sys

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from redmist.cancellation import task_stop

pytestmark = pytest.mark.asyncio


async def _swallowing_wait_for_loop(turns: list[asyncio.Future], passes: list[int]) -> None:
    """A loop like a save loop: each pass waits for an operation under wait_for."""
    while True:
        fut = asyncio.get_running_loop().create_future()
        turns.append(fut)
        await asyncio.wait_for(fut, timeout=5)
        passes.append(1)


async def _cancel_as_the_operation_finishes(task: asyncio.Task, turns: list[asyncio.Future]) -> None:
    while not turns:
        await asyncio.sleep(0)
    turns[-1].set_result(None)  # the operation completes ...
    task.cancel()  # ... in the same loop turn as the cancel arrives


async def test_wait_for_on_this_python_can_swallow_a_cancel_that_lands_as_its_operation_finishes():
    turns, passes = [], []
    task = asyncio.create_task(_swallowing_wait_for_loop(turns, passes))
    await _cancel_as_the_operation_finishes(task, turns)
    await asyncio.sleep(0.05)
    if sys.version_info < (3, 12):  # CPython gh-86296: the reason task_stop exists
        assert not task.done() and passes == [1]
    else:
        assert task.cancelled()
    await task_stop(task)
    assert task.done()


async def test_a_task_whose_cancel_was_swallowed_is_cancelled_again_until_it_stops():
    turns, passes = [], []
    task = asyncio.create_task(_swallowing_wait_for_loop(turns, passes))
    stopper = asyncio.create_task(task_stop(task, retry_seconds=0.05))
    await _cancel_as_the_operation_finishes(task, turns)  # one more cancel, swallowed on 3.11
    assert await stopper is True
    assert task.cancelled()


async def test_a_task_that_ignores_every_cancel_is_reported_and_left_after_the_timeout(caplog):
    release = asyncio.Event()
    cancels = 0

    async def stubborn():
        nonlocal cancels
        while not release.is_set():
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                cancels += 1

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="redmist.cancellation"):
        assert await task_stop(task, timeout=0.3, retry_seconds=0.05) is False
    assert not task.done() and cancels >= 5
    assert "stubborn still runs" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2)


async def test_an_error_the_task_ended_with_is_logged_not_raised(caplog):
    async def broken():
        raise RuntimeError("disk full")

    task = asyncio.create_task(broken(), name="writer-9")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="redmist.cancellation"):
        assert await task_stop(task) is True
    assert "writer-9 ended with an error" in caplog.text and "disk full" in caplog.text


async def test_stopping_nothing_or_a_finished_task_returns_at_once():
    assert await task_stop(None) is True
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    assert await task_stop(done, timeout=0) is True


async def test_a_loop_of_redis_writes_stops_every_time_it_is_stopped_mid_command():
    """Real Redis with a socket timeout (as the app's clients use): writes go through wait_for. The loop
    pauses between writes as the worker's save and renewal loops do; a loop with no pause at all can
    swallow cancel after cancel (docs/live-pipeline.md, "Stopping tasks")."""
    assert settings.REDIS_URL, "make test points REDIS_URL at the suite's Redis database"
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    writes = 0

    async def save_loop():
        nonlocal writes
        while True:
            await client.hset("redmist:test:task-stop", mapping={"state": b"x" * 3000, "seq": writes})
            writes += 1
            await asyncio.sleep(0.0005)

    rng = random.Random(7)
    try:
        for _ in range(60):
            task = asyncio.create_task(save_loop())
            await asyncio.sleep(rng.random() * 0.003)
            assert await task_stop(task, retry_seconds=0.05) is True
            assert task.cancelled()
            before = writes
            await asyncio.sleep(0.002)
            assert writes == before  # nothing runs on after the stop
    finally:
        await client.delete("redmist:test:task-stop")
        await client.aclose()
    assert writes > 60
