"""One watcher's view of the anomaly feed: the request, history then live with no gap and no
repeat, filters, deduplication, gap notices and the bounded live queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from eventpulse.application.anomaly_watch import AnomalyWatch, WatchRequest, parse_watch_request
from eventpulse.application.live_anomalies import ClientTooSlow, LiveQueue, parse_cursor
from eventpulse.domain.errors import InvalidInput
from tests.unit.feed_fakes import FakeFeed, anomaly, feed_entry

Messages = list[dict[str, Any]]


def watch_feed(
    feed: FakeFeed,
    request: WatchRequest,
    *,
    meanwhile: Callable[[], object] = lambda: None,
    **options: Any,
) -> Messages:
    """Subscribe, call `meanwhile`, then take every message the watch has: its history, then
    the live entries queued by then."""

    async def scenario() -> Messages:
        watch = AnomalyWatch(request, feed, await feed.subscribe(), **options)
        meanwhile()
        messages = [orjson.loads(m) async for m in watch.history()]
        while (message := await watch.next_live(0.01)) is not None:
            messages.append(orjson.loads(message))
        return messages

    return asyncio.run(scenario())


def ids(messages: Messages) -> list[str]:
    return [m["anomaly"]["anomaly_id"] for m in messages if "anomaly" in m]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("severity", "fatal")], "severity"),
        ([("severity", "critical,loud")], "severity"),
        ([("rule_id", "Checkout Errors")], "rule_id"),
        ([("since", "yesterday")], "since"),
        ([("since", "1-2-3")], "since"),
        ([("since", "1-0"), ("since", "2-0")], "since"),
        ([("severty", "critical")], "severty"),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(params: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_watch_request(params)

    assert [e.field for e in refused.value.errors] == [field]


def test_values_may_be_repeated_or_comma_separated() -> None:
    request = parse_watch_request(
        [("severity", "critical,warning"), ("rule_id", "a"), ("rule_id", "b"), ("since", "0")]
    )

    assert request == WatchRequest(
        frozenset({"critical", "warning"}), frozenset({"a", "b"}), (0, 0)
    )


def test_cursors_are_stream_ids_in_numeric_order() -> None:
    assert parse_cursor("1700000000000-2") == (1700000000000, 2)
    assert parse_cursor("5") == (5, 0)
    assert parse_cursor("5-18446744073709551616") is None
    assert (9, 0) < (10, 0)


def test_without_since_only_live_anomalies_are_sent() -> None:
    feed = FakeFeed()
    feed.append(anomaly("old"))

    messages = watch_feed(feed, WatchRequest(), meanwhile=lambda: feed.append(anomaly("new")))

    assert ids(messages) == ["new"]


def test_since_sends_the_history_then_live_ones_once_each_in_order() -> None:
    feed = FakeFeed()
    first, *_ = feed.append(anomaly("a1"), anomaly("a2"), anomaly("a3"))
    # Each history page read appends one more (live too), until there are nine entries.
    feed.on_read = lambda: len(feed.entries) < 9 and feed.append(anomaly(f"r{len(feed.entries)}"))

    messages = watch_feed(feed, WatchRequest(since=first.position), page=1)

    assert ids(messages) == [e.anomaly["anomaly_id"] for e in feed.entries[1:]]
    assert len(messages) == 8


def test_filters_apply_to_history_and_live_alike() -> None:
    feed = FakeFeed()
    feed.append(anomaly("h1", severity="info"), anomaly("h2", rule_id="other"), anomaly("h3"))
    request = parse_watch_request(
        [("severity", "critical"), ("rule_id", "checkout"), ("since", "0")]
    )

    def live() -> None:
        feed.append(anomaly("l1", severity="warning"), anomaly("l2"), anomaly("l3", rule_id="x"))

    assert ids(watch_feed(feed, request, meanwhile=live)) == ["h3", "l2"]


def test_an_anomaly_appended_twice_is_sent_once() -> None:
    feed = FakeFeed()
    feed.append(anomaly("a1"), anomaly("a2"))

    def again() -> None:
        feed.append(anomaly("a2"), anomaly("a3"))

    assert ids(watch_feed(feed, WatchRequest(since=(0, 0)), meanwhile=again)) == ["a1", "a2", "a3"]


def test_only_the_last_delivered_ids_are_remembered() -> None:
    feed = FakeFeed()
    feed.append(anomaly("a1"), anomaly("a2"), anomaly("a3"), anomaly("a1"))

    messages = watch_feed(feed, WatchRequest(since=(0, 0)), remember=2)

    assert ids(messages) == ["a1", "a2", "a3", "a1"]


def test_a_since_whose_followers_were_trimmed_gets_a_gap_notice_first() -> None:
    feed = FakeFeed()
    feed.append(*(anomaly(f"a{i}") for i in range(1, 6)))
    feed.trim(keep=2)

    messages = watch_feed(feed, WatchRequest(since=(1, 0)))

    assert messages[0]["gap"] is True
    assert (messages[0]["since"], messages[0]["first_cursor"]) == ("1-0", "4-0")
    assert ids(messages) == ["a4", "a5"]


def test_since_zero_means_the_oldest_kept_entry_without_a_gap_notice() -> None:
    feed = FakeFeed()
    feed.append(*(anomaly(f"a{i}") for i in range(1, 6)))
    feed.trim(keep=2)

    messages = watch_feed(feed, WatchRequest(since=(0, 0)))

    assert ids(messages) == ["a4", "a5"] and len(messages) == 2


def test_a_since_after_the_newest_entry_is_refused() -> None:
    feed = FakeFeed()
    feed.append(anomaly("a1"))

    with pytest.raises(InvalidInput) as refused:
        watch_feed(feed, WatchRequest(since=(7, 0)))

    assert refused.value.errors[0].field == "since"


def test_a_full_live_queue_ends_as_too_slow_and_never_blocks_the_feeder() -> None:
    async def scenario() -> tuple[BaseException, BaseException]:
        queue = LiveQueue(2)
        for n in range(1, 4):
            queue.offer(feed_entry((n, 0), anomaly(f"a{n}")))  # returns at once, full or not
        ended = await asyncio.wait_for(queue.ended(), 1)
        with pytest.raises(ClientTooSlow) as raised:
            await queue.get(0.01)
        return ended, raised.value

    ended, raised = asyncio.run(scenario())

    assert isinstance(ended, ClientTooSlow) and raised is ended
    assert str(ended) == "client too slow: more than 2 messages queued"


def test_an_idle_live_queue_answers_none_after_the_wait() -> None:
    assert asyncio.run(LiveQueue(2).get(0.01)) is None
