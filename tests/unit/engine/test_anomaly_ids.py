from __future__ import annotations

import hashlib
import json

from eventpulse.domain.engine import anomaly_id
from tests.unit.engine.support import BASE_EPOCH, event, rule, run

COUNT = rule(
    type="threshold", agg="count", window="1m", op="gte", value=1, group_by=["source", "payload.n"]
)


def test_the_id_is_a_hash_of_the_canonical_rule_group_and_window() -> None:
    (anomaly,) = run(COUNT, [event(0, payload={"n": 2.0}), event(60, payload={"n": 2})])

    canonical = f'["rule-1",1,{{"payload.n":2,"source":"a"}},{BASE_EPOCH},{BASE_EPOCH + 60}]'
    assert anomaly.anomaly_id == hashlib.sha256(canonical.encode()).hexdigest()[:32]


def test_per_event_ids_include_the_event_id_and_the_event_time() -> None:
    first = event(0.25)
    (anomaly,) = run(rule(type="match"), [first, event(1)])

    window = (BASE_EPOCH + 0.25, BASE_EPOCH + 0.25)
    assert anomaly.anomaly_id == anomaly_id("rule-1", 1, {}, window, str(first.event_id))
    assert json.loads(json.dumps(window)) == list(window)


def test_the_same_events_give_the_same_ids_and_another_version_other_ids() -> None:
    events = [event(t, s) for t in (0, 30, 70, 130) for s in ("a", "b")]

    first, again = run(COUNT, events), run(COUNT, events)
    other_version = run(COUNT, events, version=2)

    assert [a.anomaly_id for a in first] == [a.anomaly_id for a in again]
    assert not {a.anomaly_id for a in first} & {a.anomaly_id for a in other_version}
    assert len({a.anomaly_id for a in first}) == len(first) == 4
