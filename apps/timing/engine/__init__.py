"""Pure-Python timing engine (RMonitor first). No Django, no I/O: stdlib and msgpack only."""

from .engine import PassResult, TimingEngine
from .laps import CompletedLap

__all__ = ["TimingEngine", "PassResult", "CompletedLap"]
