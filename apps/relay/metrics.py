"""Counters for the relay socket, read by /metrics and the tests."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class RelayMetrics:
    connections: int = 0
    accepted: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    rejected_frames: int = 0
    rejected_auth: int = 0
    rejected_event: int = 0
    rate_limited: int = 0
    failed: int = 0


relay_metrics = RelayMetrics()
