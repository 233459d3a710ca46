"""The worker loop `Persister.run`: own pending entries first, then claims, then new entries."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

from eventpulse.application.event_codec import encode_event, join_events
from eventpulse.application.persist import Persister, PersistPolicy, PersistStats
from eventpulse.application.ports import StreamEntry
from eventpulse.domain.errors import StreamUnavailable
from tests.unit.fakes import FakeStore, FakeStream, HookRecorder, Journal, entry, wire_record

# Claims and trims come due once per run (at the start); retries wait a fraction of a millisecond;
# no read-ahead thread, so the journal of calls has one order (read-ahead has its own tests).
POLICY = PersistPolicy(
    read_ahead=False,
    max_deliveries=3,
    claim_every_s=3600,
    trim_every_s=3600,
    retry_initial_s=0.0005,
    retry_max_s=0.001,
)


def run(
    stream: FakeStream,
    store: FakeStore,
    policy: PersistPolicy = POLICY,
    hook: HookRecorder | None = None,
) -> PersistStats:
    return Persister(stream, store, policy, hook).run(stream.stop)


def names(journal: Journal) -> list[str]:
    return [step[0] for step in journal]


def pipeline(
    *,
    new: list[list[StreamEntry]] | None = None,
    pending: Sequence[StreamEntry] = (),
    abandoned: list[list[StreamEntry]] | None = None,
    store_down_on: Collection[int] = (),
    stop_on_outage: bool = False,
) -> tuple[FakeStream, FakeStore]:
    journal: Journal = []
    stop = threading.Event()
    stream = FakeStream(
        journal,
        stop,
        new=new or [],
        pending={e.entry_id: e for e in pending},
        abandoned=abandoned or [],
    )
    store = FakeStore(
        journal, down_on=store_down_on, on_outage=stop.set if stop_on_outage else None
    )
    return stream, store


def test_the_loop_drains_own_pending_entries_then_claims_then_reads_new_ones() -> None:
    mine, theirs, fresh = wire_record(), wire_record(), wire_record()
    stream, store = pipeline(
        pending=[entry("1-0", mine)],
        abandoned=[[entry("2-0", theirs)]],
        new=[[entry("3-0", fresh)]],
    )

    stats = run(stream, store)

    assert names(stream.journal) == [
        "read_own_pending",
        "insert",
        "ack",
        "read_own_pending",
        "claim_abandoned",
        "insert",
        "ack",
        "trim",
        "read_new",
        "insert",
        "ack",
        "read_new",
    ]
    assert stream.acked == ["1-0", "2-0", "3-0"]
    assert set(store.rows) == {mine["event_id"], theirs["event_id"], fresh["event_id"]}
    assert (stats.batches, stats.inserted, stats.redelivered) == (3, 3, 2)


def test_the_loop_keeps_draining_until_no_own_entry_is_pending() -> None:
    pending = [entry(f"{n}-0", wire_record()) for n in range(1, 6)]
    stream, store = pipeline(pending=pending)
    policy = PersistPolicy(read_count=2, claim_every_s=3600, trim_every_s=3600, read_ahead=False)

    run(stream, store, policy)

    assert names(stream.journal)[:10] == ["read_own_pending", "insert", "ack"] * 3 + [
        "read_own_pending"
    ]
    assert stream.acked == [e.entry_id for e in pending]
    assert stream.pending == {}


def test_a_stop_requested_before_the_start_reads_nothing() -> None:
    stream, store = pipeline(new=[[entry("1-0", wire_record())]])
    stream.stop.set()

    stats = run(stream, store)

    assert stream.journal == []
    assert stats == PersistStats()


def test_the_loop_returns_its_stats_once_stop_is_set() -> None:
    stream, store = pipeline(new=[[entry("1-0", wire_record())], [], [entry("2-0", wire_record())]])
    stream.stop_after_reads = 2

    stats = run(stream, store)

    assert names(stream.journal).count("read_new") == 2
    assert stream.acked == ["1-0"]
    assert [e.entry_id for batch in stream.new for e in batch] == ["2-0"]  # never read
    assert (stats.batches, stats.inserted) == (1, 1)


def test_a_batch_read_as_stop_arrives_is_still_stored_and_acknowledged() -> None:
    record = wire_record()
    stream, store = pipeline(new=[[entry("1-0", record)], [entry("2-0", wire_record())]])
    stream.stop_after_reads = 1

    run(stream, store)

    assert names(stream.journal)[-3:] == ["read_new", "insert", "ack"]
    assert stream.acked == ["1-0"]
    assert set(store.rows) == {record["event_id"]}


def test_a_stream_outage_is_retried_and_own_pending_entries_are_drained_again() -> None:
    record = wire_record()
    stream, store = pipeline(new=[[entry("1-0", record)]])
    stream.failures = {"read_new": [StreamUnavailable("connection reset")]}

    run(stream, store)

    assert names(stream.journal) == [
        "read_own_pending",
        "claim_abandoned",
        "trim",
        "read_new",  # raises
        "read_own_pending",
        "read_new",
        "insert",
        "ack",
        "read_new",
    ]
    assert stream.acked == ["1-0"]


def test_an_ack_lost_to_a_stream_outage_is_redone_without_evaluating_the_events_twice() -> None:
    record = wire_record()
    stream, store = pipeline(new=[[entry("1-0", record)]])
    stream.failures = {"ack": [StreamUnavailable("connection reset")]}
    hook = HookRecorder(stream.journal)

    run(stream, store, hook=hook)

    assert stream.acked == ["1-0"]
    assert stream.pending == {}
    assert list(store.rows) == [record["event_id"]]
    assert names(stream.journal).count("insert") == 2  # the re-read entry is inserted again
    # The hook is at-most-once: the re-read event is a duplicate for the store, so it is not
    # handed over again. Rule evaluation must not rely on the hook alone (see persist.py).
    assert hook.calls == []


def test_a_pending_entry_past_the_delivery_limit_is_dead_lettered_at_start_up() -> None:
    poison = entry("1-0", wire_record(), deliveries=POLICY.max_deliveries)
    stream, store = pipeline(pending=[poison])

    run(stream, store)

    [letter] = stream.dead
    assert (letter.entry_id, letter.deliveries) == ("1-0", POLICY.max_deliveries + 1)
    assert store.rows == {}
    assert stream.acked == ["1-0"]


def test_a_stop_during_a_store_outage_leaves_pending_entries_for_the_next_start() -> None:
    stream, store = pipeline(
        pending=[entry("1-0", wire_record())], store_down_on=range(1, 1000), stop_on_outage=True
    )

    run(stream, store)

    assert stream.acked == []
    assert stream.dead == []
    assert "1-0" in stream.pending
    assert store.rows == {}


def test_a_stop_during_the_drain_of_own_entries_claims_and_reads_nothing_more() -> None:
    stream, store = pipeline(
        pending=[entry("1-0", wire_record())],
        abandoned=[[entry("2-0", wire_record())]],
        new=[[entry("3-0", wire_record())]],
        store_down_on=range(1, 1000),
        stop_on_outage=True,
    )

    run(stream, store)

    assert names(stream.journal) == ["read_own_pending", "insert"]
    assert list(stream.pending) == ["1-0"]


def test_a_store_outage_in_the_loop_delays_the_ack_until_the_insert_succeeds() -> None:
    stream, store = pipeline(new=[[entry("1-0", wire_record())]], store_down_on={1, 2, 3})

    run(stream, store)

    assert names(stream.journal)[3:] == ["read_new", *["insert"] * 4, "ack", "read_new"]
    assert stream.acked == ["1-0"]


def test_with_zero_periods_every_read_is_preceded_by_a_claim_and_a_trim() -> None:
    stream, store = pipeline(new=[[], []])
    policy = PersistPolicy(claim_every_s=0, trim_every_s=0, read_ahead=False)

    run(stream, store, policy)

    assert names(stream.journal) == [
        "read_own_pending",
        *["claim_abandoned", "trim", "read_new"] * 3,
    ]


def test_an_item_with_a_numeric_event_id_is_dead_lettered_and_its_neighbours_stored() -> None:
    good = wire_record()
    poison = StreamEntry("1-0", join_events([encode_event({**wire_record(), "event_id": 42})]), 1)
    stream, store = pipeline(new=[[poison, entry("2-0", good)]])

    run(stream, store)

    assert [letter.entry_id for letter in stream.dead] == ["1-0"]
    assert list(store.rows) == [good["event_id"]]
    assert stream.acked == ["1-0", "2-0"]


READ_AHEAD = PersistPolicy(
    claim_every_s=3600, trim_every_s=3600, retry_initial_s=0.0005, retry_max_s=0.001
)


def test_with_read_ahead_every_batch_is_stored_acknowledged_and_evaluated_once() -> None:
    records = [wire_record() for _ in range(30)]
    batches = [[entry(f"{i}-0", record)] for i, record in enumerate(records, start=1)]
    stream, store = pipeline(new=batches)
    hook = HookRecorder(stream.journal)

    run(stream, store, READ_AHEAD, hook)

    assert stream.acked == [f"{i}-0" for i in range(1, 31)]
    assert stream.pending == {}
    assert list(store.rows) == [r["event_id"] for r in records]
    assert [event_id for call in hook.calls for event_id in call] == list(store.rows)


def test_a_stop_still_stores_and_acknowledges_the_batch_already_read_ahead() -> None:
    first, second = wire_record(), wire_record()
    stream, store = pipeline(new=[[entry("1-0", first)], [entry("2-0", second)], []])
    stream.stop_after_reads = 2  # the second read (the read-ahead) returns data, then stops

    run(stream, store, READ_AHEAD)

    assert stream.acked == ["1-0", "2-0"]
    assert stream.pending == {}
    assert names(stream.journal).count("read_new") == 2


def test_entries_held_through_a_store_outage_are_kept_from_looking_abandoned() -> None:
    stream, store = pipeline(new=[[entry("1-0", wire_record())]], store_down_on={1, 2, 3})

    run(stream, store)

    assert stream.touched == [["1-0"]] * 3  # once per failed attempt, before waiting
    assert stream.acked == ["1-0"]


def test_a_stream_outage_with_a_read_in_flight_still_stores_everything_read() -> None:
    records = [wire_record() for _ in range(3)]
    stream, store = pipeline(new=[[entry(f"{i}-0", r)] for i, r in enumerate(records, 1)])
    stream.failures = {"ack": [StreamUnavailable("connection reset")]}

    run(stream, store, READ_AHEAD)

    assert stream.pending == {}
    assert sorted(stream.acked) == ["1-0", "2-0", "3-0"]
    assert sorted(map(str, store.rows)) == sorted(str(r["event_id"]) for r in records)
