"""The relay's outbox: every message waits here, numbered, until the server acks it.

Memory holds up to `memory_limit` frames; beyond that, new frames spill to an append-only file and
come back in order. Numbers run 1, 2, 3, … within an epoch (one relay run); the server stores them
in that order only, which makes "resend everything after the last ack" safe.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path


class Outbox:
    def __init__(self, *, memory_limit: int = 50_000, spill_path: Path | None = None) -> None:
        self.memory_limit = memory_limit
        self.spill_path = spill_path
        self._memory: deque[dict] = deque()
        self._spilled = 0
        self._spill_read_offset = 0
        self.next_id = 1
        self.acked_through = 0

    def __len__(self) -> int:
        return len(self._memory) + self._spilled

    def add(self, frame: dict) -> dict:
        frame = dict(frame, id=self.next_id)
        self.next_id += 1
        if (self._spilled or len(self._memory) >= self.memory_limit) and self.spill_path is not None:
            with self.spill_path.open("a", encoding="utf-8") as spill:
                spill.write(json.dumps(frame) + "\n")
            self._spilled += 1
        else:
            self._memory.append(frame)
        return frame

    def _refill(self) -> None:
        if not self._spilled or self.spill_path is None:
            return
        with self.spill_path.open("r", encoding="utf-8") as spill:
            spill.seek(self._spill_read_offset)
            while len(self._memory) < self.memory_limit and self._spilled:
                line = spill.readline()
                if not line:
                    break
                self._memory.append(json.loads(line))
                self._spilled -= 1
            self._spill_read_offset = spill.tell()
        if not self._spilled:
            self.spill_path.unlink(missing_ok=True)
            self._spill_read_offset = 0

    def ack_through(self, frame_id: int) -> None:
        """The server has everything up to frame_id: drop it."""
        self.acked_through = max(self.acked_through, frame_id)
        while True:
            if not self._memory:
                self._refill()
                if not self._memory:
                    return
            if self._memory[0]["id"] > self.acked_through:
                return
            self._memory.popleft()

    def unacked(self, *, after: int, limit: int) -> list[dict]:
        """Up to `limit` frames with id > after, in order (refilling from the spill file as needed)."""
        if len(self._memory) < limit:
            self._refill()
        return [frame for frame in self._memory if frame["id"] > after][:limit]
