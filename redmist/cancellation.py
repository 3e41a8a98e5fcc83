"""Stopping asyncio tasks so that they really stop.

On Python 3.11, `asyncio.wait_for` returns the inner result instead of raising when the cancel
arrives in the same loop turn as the inner operation finishes (CPython gh-86296, fixed in 3.12).
redis-py wraps every command write in `wait_for` when `socket_timeout` is set, so a task cancelled
while it talks to Redis carries on, about once in a few hundred cancels, as if nothing had
happened: a save or lease-renewal loop then runs forever and whoever awaits it hangs
(docs/live-pipeline.md, "Stopping tasks").
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

# Long enough that a task unwinding from its cancel (a finally block awaiting a reply) is not
# interrupted again; short enough that a swallowed cancel costs little.
RETRY_SECONDS = 0.5


async def task_stop(task: asyncio.Task | None, *, timeout: float = 5.0,
                    retry_seconds: float = RETRY_SECONDS) -> bool:
    """Cancel `task` and wait until it has ended, cancelling again each `retry_seconds` while it
    still runs (a swallowed cancel). True once it has ended; False, logged, if it still ran after
    `timeout`. An error the task ended with is logged, not raised: stopping is not the place to
    fail the caller."""
    if task is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    cancels = 0
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            logger.warning("task %s still runs %.1f s after %d cancels; leaving it", task.get_name(), timeout, cancels)
            return False
        task.cancel()
        cancels += 1
        await asyncio.wait({task}, timeout=min(retry_seconds, remaining))
    if cancels > 1:
        logger.info("task %s swallowed a cancel; it stopped after %d", task.get_name(), cancels)
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s ended with an error", task.get_name(), exc_info=task.exception())
    return True
