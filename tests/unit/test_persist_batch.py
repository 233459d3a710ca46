"""One batch through `Persister.handle`: insert, then ack, then evaluation (invariants 2 and 3)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from uuid import UUID

import orjson

from eventpulse.application.persist import Persister, PersistPolicy
from eventpulse.application.ports import StreamEntry
from eventpulse.domain.events import Event
from tests.unit.fakes import (
    FakeStore,
    FakeStream,
    HookRecorder,
    Journal,
    as_event,
    entry,
    ids_of,
    wire_record,
)

POLICY = PersistPolicy(max_deliveries=3, retry_initial_s=0.0005, retry_max_s=0.001)


@dataclass
class Worker:
    store_down_on: Collection[int] = ()
    refused: Sequence[UUID] = ()
    stored: Sequence[Event] = ()
    hook_error: Exception | None = None
    stop_on_outage: bool = False
    journal: Journal = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.stream = FakeStream(self.journal, self.stop)
        self.store = FakeStore(
            self.journal,
            down_on=self.store_down_on,
            refused=self.refused,
            stored=self.stored,
            on_outage=self.stop.set if self.stop_on_outage else None,
        )
        self.hook = HookRecorder(self.journal, self.hook_error)
        self.persister = Persister(self.stream, self.store, POLICY, self.hook)

    def handle(self, *entries: StreamEntry) -> bool:
        return self.persister.handle(list(entries), self.stop)


def test_a_batch_is_acknowledged_only_after_the_insert_committed() -> None:
    a, b, c = wire_record(), wire_record(), wire_record()
    worker = Worker()

    finished = worker.handle(entry("1-0", a, b), entry("2-0", c))

    assert finished is True
    assert worker.journal == [
        ("insert", ids_of([a, b, c])),
        ("ack", ["1-0", "2-0"]),
        ("hook", ids_of([a, b, c])),
    ]
    assert set(worker.store.rows) == set(ids_of([a, b, c]))


def test_the_stored_event_is_the_one_the_api_queued() -> None:
    record = wire_record(payload={"user": "ada", "n": 2})
    worker = Worker()

    worker.handle(entry("1-0", record))

    stored = worker.store.rows[record["event_id"]]
    assert (stored.event_type, stored.source, stored.payload) == ("login", "web", record["payload"])
    assert (stored.ts, stored.received_at) == (record["timestamp"], record["received_at"])


def test_events_already_stored_are_acknowledged_but_not_evaluated_again() -> None:
    old, new = wire_record(), wire_record()
    worker = Worker(stored=[as_event(old)])

    worker.handle(entry("1-0", old, new))

    assert worker.stream.acked == ["1-0"]
    assert worker.hook.calls == [[new["event_id"]]]
    assert (worker.persister.stats.inserted, worker.persister.stats.duplicates) == (1, 1)


def test_a_redelivered_batch_that_is_all_stored_is_acknowledged_without_evaluation() -> None:
    record = wire_record()
    worker = Worker(stored=[as_event(record)])

    worker.handle(entry("1-0", record, deliveries=2))

    assert worker.stream.acked == ["1-0"]
    assert worker.hook.calls == []
    assert worker.persister.stats.redelivered == 1


def test_an_id_repeated_within_a_batch_is_evaluated_once() -> None:
    record = wire_record()
    worker = Worker()

    worker.handle(entry("1-0", record), entry("2-0", record))

    assert worker.hook.calls == [[record["event_id"]]]
    assert worker.stream.acked == ["1-0", "2-0"]
    assert (worker.persister.stats.inserted, worker.persister.stats.duplicates) == (1, 1)


def test_a_store_outage_is_retried_and_nothing_is_acked_before_the_insert_succeeds() -> None:
    record = wire_record()
    worker = Worker(store_down_on={1, 2})

    finished = worker.handle(entry("1-0", record))

    assert finished is True
    assert [step[0] for step in worker.journal] == ["insert", "insert", "insert", "ack", "hook"]
    assert record["event_id"] in worker.store.rows


def test_a_stop_requested_during_an_outage_returns_without_acking() -> None:
    worker = Worker(store_down_on=range(1, 1000), stop_on_outage=True)

    finished = worker.handle(entry("1-0", wire_record()), StreamEntry("2-0", None, 1))

    assert finished is False
    assert [step[0] for step in worker.journal] == ["insert"]
    assert worker.stream.acked == []
    assert worker.stream.dead == []
    assert worker.hook.calls == []


def test_a_refused_event_alone_is_dead_lettered_and_the_rest_of_the_batch_is_stored() -> None:
    a, refused, c = wire_record(), wire_record(), wire_record()
    worker = Worker(refused=[refused["event_id"]])

    finished = worker.handle(entry("1-0", a, refused), entry("2-0", c))

    assert finished is True
    assert set(worker.store.rows) == {a["event_id"], c["event_id"]}
    [letter] = worker.stream.dead
    assert letter.entry_id == "1-0"
    assert letter.event["event_id"] == str(refused["event_id"])
    assert letter.error == f"refused by the store: invalid input for event {refused['event_id']}"
    assert worker.stream.acked == ["1-0", "2-0"]
    assert worker.hook.calls == [ids_of([a, c])]
    assert [step[0] for step in worker.journal] == [
        # the batch [a, refused, c]; halves [refused, c] → [c], [refused]; then [a]
        *["insert"] * 5,
        "dead_letter",
        "ack",
        "hook",
    ]


def test_a_refused_event_is_not_counted_as_a_duplicate() -> None:
    refused = wire_record()
    worker = Worker(refused=[refused["event_id"]])

    worker.handle(entry("1-0", wire_record(), refused))

    stats = worker.persister.stats
    assert (stats.inserted, stats.dead_lettered, stats.duplicates) == (1, 1, 0)


def test_a_store_outage_while_inserting_one_by_one_is_retried() -> None:
    a, refused = wire_record(), wire_record()
    # Call 1 is the refused batch; call 2, the first single insert, meets an outage.
    worker = Worker(refused=[refused["event_id"]], store_down_on={2})

    finished = worker.handle(entry("1-0", a, refused))

    assert finished is True
    assert set(worker.store.rows) == {a["event_id"]}
    assert [letter.entry_id for letter in worker.stream.dead] == ["1-0"]
    assert worker.stream.acked == ["1-0"]


def test_a_stop_while_inserting_one_by_one_acknowledges_and_dead_letters_nothing() -> None:
    refused, b = wire_record(), wire_record()
    worker = Worker(refused=[refused["event_id"]], store_down_on={3}, stop_on_outage=True)

    finished = worker.handle(entry("1-0", refused, b))

    assert finished is False
    assert worker.stream.acked == []
    assert worker.stream.dead == []
    assert worker.hook.calls == []


def test_an_entry_delivered_too_often_is_dead_lettered_without_being_inserted() -> None:
    poison, last_chance = wire_record(), wire_record()
    worker = Worker()
    too_often = entry("1-0", poison, deliveries=POLICY.max_deliveries + 1)

    worker.handle(too_often, entry("2-0", last_chance, deliveries=POLICY.max_deliveries))

    assert worker.journal[0] == ("insert", [last_chance["event_id"]])
    assert poison["event_id"] not in worker.store.rows
    [letter] = worker.stream.dead
    assert (letter.entry_id, letter.data, letter.deliveries) == ("1-0", too_often.data, 4)
    assert letter.error == "delivered 4 times without being acknowledged"
    assert worker.stream.acked == ["1-0", "2-0"]


def test_undecodable_items_are_dead_lettered_and_the_rest_of_their_entry_is_stored() -> None:
    good = wire_record()
    mixed = StreamEntry(
        "1-0", b"[" + orjson.dumps(good, option=orjson.OPT_UTC_Z) + b',{"source":"web"}]', 1
    )
    worker = Worker()

    worker.handle(mixed, StreamEntry("2-0", None, 1), StreamEntry("3-0", b"not json", 2))

    assert set(worker.store.rows) == {good["event_id"]}
    dead = {letter.entry_id: letter for letter in worker.stream.dead}
    assert dead["1-0"].data == b'{"source":"web"}'
    assert "event_type" in dead["1-0"].error
    assert dead["2-0"].error == "entry has no 'e' field"
    assert "not valid JSON" in dead["3-0"].error
    assert dead["3-0"].deliveries == 2
    assert worker.stream.acked == ["1-0", "2-0", "3-0"]
    assert worker.persister.stats.dead_lettered == 3


def test_a_batch_holding_nothing_storable_is_acknowledged_without_an_insert() -> None:
    worker = Worker()

    finished = worker.handle(StreamEntry("1-0", None, 1))

    assert finished is True
    assert [step[0] for step in worker.journal] == ["dead_letter", "ack"]


def test_a_failing_hook_is_counted_and_does_not_prevent_the_ack() -> None:
    record = wire_record()
    worker = Worker(hook_error=RuntimeError("rules engine exploded"))

    finished = worker.handle(entry("1-0", record))

    assert finished is True
    assert worker.stream.acked == ["1-0"]
    assert record["event_id"] in worker.store.rows
    assert worker.persister.stats.hook_errors == 1


def test_stats_count_batches_inserts_and_redeliveries() -> None:
    worker = Worker()

    worker.handle(entry("1-0", wire_record(), wire_record()))
    worker.handle(entry("2-0", wire_record(), deliveries=2), StreamEntry("3-0", None, 1))

    stats = worker.persister.stats
    assert (stats.batches, stats.inserted, stats.duplicates) == (2, 3, 0)
    assert (stats.redelivered, stats.dead_lettered, stats.hook_errors) == (1, 1, 0)


def test_isolating_refused_events_takes_a_logarithmic_number_of_inserts() -> None:
    records = [wire_record() for _ in range(1024)]
    refused = [records[100]["event_id"], records[900]["event_id"]]
    worker = Worker(refused=refused)

    worker.handle(entry("1-0", *records))

    inserts = sum(1 for step in worker.journal if step[0] == "insert")
    assert inserts <= 1 + 2 * 2 * 10  # the batch, then two paths of depth log2(1024)
    assert len(worker.store.rows) == 1022
    assert sorted(letter.event["event_id"] for letter in worker.stream.dead) == sorted(
        str(i) for i in refused
    )
