"""The relay socket: authenticated track-side relays append timing messages to their event's ingest bus."""

from __future__ import annotations

import asyncio
import json
import logging

import msgpack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.relay import services
from apps.relay.auth import RelayAuthError, relay_authenticate
from apps.relay.bus import BusMessage, bus_get
from apps.relay.groups import relay_group_name
from apps.relay.frames import DATA_KINDS, FrameError, RelayFrame, frame_decode, frame_parse
from apps.relay.liveness import live_event_mark
from apps.relay.metrics import relay_metrics
from apps.relay.ratelimit import TokenBucket

logger = logging.getLogger(__name__)


FLUSH_BATCH = 200
MAX_BATCH = 500


class RelayConsumer(AsyncWebsocketConsumer):
    """One relay connection, bound to one event by its `hello` frame."""

    identity = None
    event = None
    epoch = ""
    binary = False
    _flusher: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        try:
            self.identity = await database_sync_to_async(relay_authenticate)(scope=self.scope)
        except RelayAuthError as exc:
            relay_metrics.rejected_auth += 1
            logger.info("relay refused: %s", exc)
            await self._send({"type": "error", "code": "unauthorized", "error": str(exc)})
            await self.close(code=4401)
            return
        self._queue: list[RelayFrame] = []
        self.bucket = TokenBucket(rate=settings.RELAY_RATE_PER_SECOND, burst=settings.RELAY_RATE_BURST)
        relay_metrics.connections += 1

    async def disconnect(self, code):
        if self._flusher is not None and not self._flusher.done():
            # Frames already queued are stored (and acked if the socket still can); none is half-written.
            await asyncio.shield(self._flusher)
        if self.identity is not None:
            relay_metrics.connections -= 1
        if self.event is not None:
            await self.channel_layer.group_discard(relay_group_name(self.event.pk), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.identity is None:
            return
        self.binary = bytes_data is not None
        try:
            body = frame_decode(text=text_data, data=bytes_data, max_bytes=settings.RELAY_MAX_FRAME_BYTES)
        except FrameError as exc:
            relay_metrics.rejected_frames += 1
            await self._send({"type": "error", "id": None, "code": exc.code, "error": exc.message})
            return
        if body.get("type") == "batch":
            # A relay with a backlog packs many messages into one frame; each is handled as if sent alone.
            frames = body.get("frames")
            if not isinstance(frames, list) or not 0 < len(frames) <= MAX_BATCH:
                relay_metrics.rejected_frames += 1
                await self._send({"type": "error", "id": None, "code": "bad_frame",
                                  "error": f"'frames' must be a list of 1 to {MAX_BATCH} frames"})
                return
            for inner in frames:
                if not await self._receive_one(inner if isinstance(inner, dict) else {"type": None}):
                    return  # after a refusal the relay resends from there; the rest would be out of order
            return
        await self._receive_one(body)

    async def _receive_one(self, body: dict) -> bool:
        frame_id = body.get("id") if isinstance(body.get("id"), int) else None
        try:
            frame = frame_parse(body)
            await self._handle(frame)
            return True
        except FrameError as exc:
            relay_metrics.rejected_frames += 1
            await self._send({"type": "error", "id": exc.frame_id if exc.frame_id is not None else frame_id,
                              "code": exc.code, "error": exc.message})
        except Exception:
            # The bus or the database failed: say so without an ack, and the relay resends later.
            logger.exception("relay frame failed")
            relay_metrics.failed += 1
            await self._send({"type": "error", "id": frame_id, "code": "unavailable",
                              "error": "the server could not store this message; resend it later"})
        return False

    async def _handle(self, frame: RelayFrame) -> None:
        if frame.kind == "hello":
            await self._hello(frame)
            return
        if self.event is None:
            raise FrameError("no_hello", "send a hello frame naming the event first", frame.frame_id)
        if frame.kind in DATA_KINDS:
            wait = self.bucket.take()
            if wait:
                relay_metrics.rate_limited += 1
                await self._send({"type": "error", "id": frame.frame_id, "code": "rate_limited",
                                  "error": "too many messages", "retry_after": round(wait, 3)})
                return
            await self._data(frame)
        elif frame.kind == "heartbeat":
            await live_event_mark(event_id=self.event.pk)
            await database_sync_to_async(services.relay_heartbeat_record)(
                event_id=self.event.pk, organization_id=self.identity.organization_id, version=frame.fields["version"]
            )
            await self._send({"type": "heartbeat_ack"})
        elif frame.kind == "log":
            await database_sync_to_async(services.relay_log_record)(
                organization_id=self.identity.organization_id, **frame.fields
            )

    async def _hello(self, frame: RelayFrame) -> None:
        event = await database_sync_to_async(services.relay_event_for_organization)(
            event_id=frame.fields["event_id"], organization_id=self.identity.organization_id
        )
        if event is None:
            relay_metrics.rejected_event += 1
            raise FrameError("forbidden", f"event {frame.fields['event_id']} is not one of your organization's live events")
        if self.event is not None and self.event.pk != event.pk:
            await self.channel_layer.group_discard(relay_group_name(self.event.pk), self.channel_name)
        self.event = event
        self.epoch = frame.fields["epoch"]
        await self.channel_layer.group_add(relay_group_name(event.pk), self.channel_name)
        last_id = await bus_get().last_dedup_id(event_id=event.pk, dedup_key=self._dedup_key())
        await live_event_mark(event_id=event.pk)
        await self._send({"type": "welcome", "event_id": event.pk, "last_id": last_id})

    def _dedup_key(self) -> str:
        return f"{self.identity.client_id}:{self.epoch}"

    async def _data(self, frame: RelayFrame) -> None:
        # Frames queue up and one flusher per connection appends them in order, many per Redis round
        # trip, so a relay that pipelines its sends is not held to one round trip per message.
        self._queue.append(frame)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:FLUSH_BATCH], self._queue[FLUSH_BATCH:]
            try:
                await self._append(batch)
            except Exception:
                logger.exception("relay frames could not be stored")
                relay_metrics.failed += len(batch)
                # Only the first refusal matters: the relay goes back to it and resends everything after.
                self._queue.clear()
                await self._send({"type": "error", "id": batch[0].frame_id, "code": "unavailable",
                                  "error": "the server could not store this message; resend it later",
                                  "retry_after": 1.0})
                return

    async def _append(self, batch: list[RelayFrame]) -> None:
        items = []
        for frame in batch:
            payload = frame.data
            if frame.kind == "session":
                payload = await database_sync_to_async(services.relay_session_change)(
                    event=self.event, session_id=frame.session_id, **frame.fields
                )
            elif frame.kind == "competitors":
                _, skipped = await database_sync_to_async(services.competitors_upsert)(
                    event=self.event, competitors=json.loads(payload)
                )
                if skipped:
                    await self._send({"type": "warning", "id": frame.frame_id, "skipped": skipped[:20]})
            message = BusMessage(kind=frame.bus_kind, session_id=frame.session_id, payload=payload,
                                 source_time=frame.source_time)
            items.append((message, self._dedup_key(), frame.frame_id))
        results = await bus_get().append_many(event_id=self.event.pk, items=items)
        # One cumulative ack per run of stored frames: {"type": "ack", "from": first, "id": last}.
        run: list[tuple[RelayFrame, object]] = []
        for frame, result in zip(batch, results):
            if result.expected_id is None:
                run.append((frame, result))
                if result.duplicate:
                    relay_metrics.duplicates += 1
                else:
                    relay_metrics.accepted += 1
                continue
            await self._ack(run)
            run = []
            relay_metrics.out_of_order += 1
            await self._send({"type": "error", "id": frame.frame_id, "code": "out_of_order",
                              "error": f"expected message {result.expected_id} next", "expected": result.expected_id})
        await self._ack(run)
        await live_event_mark(event_id=self.event.pk)

    async def _ack(self, run) -> None:
        if not run:
            return
        stored = [result.entry_id for _, result in run if not result.duplicate]
        await self._send({"type": "ack", "from": run[0][0].frame_id, "id": run[-1][0].frame_id, "count": len(run),
                          "duplicates": sum(1 for _, result in run if result.duplicate),
                          "entry": stored[-1] if stored else None})

    async def relay_resend(self, message):
        """The timing worker asks for the relay's cached data (the reference's SendEventData)."""
        await self._send({"type": "send_event_data", "force": bool(message.get("force", False))})

    async def _send(self, body: dict) -> None:
        if self.binary:
            await self.send(bytes_data=msgpack.packb(body, use_bin_type=True))
        else:
            await self.send(text_data=json.dumps(body, separators=(",", ":")))
