"""`$G` rows: the race handler's own change recording keeps the cars' parsed caches right."""

from __future__ import annotations

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_messages
from apps.timing.engine.state import position_rank
from apps.timing.engine.timefmt import parse_ms

from .helpers import REDMIST, SEBRING


@pytest.mark.parametrize("path", [REDMIST / "TestSessionChanges.txt", SEBRING / "2009_Sebring_ALMS_Session_5.txt"],
                         ids=lambda p: p.name)
def test_race_rows_keep_the_parsed_caches_that_the_general_setter_keeps(path) -> None:
    # _on_race sets total_time and overall_position without _set; their caches must still agree.
    eng = TimingEngine(1)
    checked = 0
    for kind, payload, at, _ in iter_messages(path.read_text("utf-8-sig")):
        eng.apply(kind, payload, session_id=1, received_at=at)
        if "$G" in payload:
            for car in eng.cars.values():
                assert car._ttm_ms == parse_ms(car.total_time)
                assert car._rank == position_rank(car.overall_position, car._seq)
                checked += 1
    assert checked > 1000
