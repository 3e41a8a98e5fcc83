"""The relay client's pieces: packing a backlog and the numbered outbox that spills to disk."""

from apps.relay.client.outbox import Outbox
from apps.relay.client.relay import BATCH, BATCH_BYTES, _chunks


def test_a_backlog_is_packed_by_count_and_by_size_in_order():
    small = [{"id": i, "data": "x" * 10} for i in range(1, 251)]
    chunks = list(_chunks(small))
    assert [len(c) for c in chunks] == [BATCH, BATCH, 50]
    big = [{"id": i, "data": "x" * (BATCH_BYTES // 3)} for i in range(1, 8)]
    chunks = list(_chunks(big))
    assert all(sum(len(f["data"]) for f in c) <= BATCH_BYTES for c in chunks)
    assert [f["id"] for c in chunks for f in c] == list(range(1, 8))


def test_the_outbox_numbers_spills_to_disk_and_gives_frames_back_in_order(tmp_path):
    outbox = Outbox(memory_limit=10, spill_path=tmp_path / "spill.jsonl")
    for n in range(35):
        outbox.add({"type": "rmonitor", "data": f"$F,{n}"})
    assert len(outbox) == 35 and (tmp_path / "spill.jsonl").exists()
    outbox.ack_through(12)
    pending = outbox.unacked(after=12, limit=100)
    assert [f["id"] for f in pending] == list(range(13, 13 + len(pending)))
    outbox.ack_through(35)
    assert len(outbox) == 0 and not (tmp_path / "spill.jsonl").exists()
