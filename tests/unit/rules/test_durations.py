from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventpulse.domain.rules.durations import MAX_SECONDS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3_600),
        ("1d", 86_400),
        ("2w", 1_209_600),
        ("90m", 5_400),
        ("05m", 300),
        ("3650d", MAX_SECONDS),
    ],
    ids=lambda value: repr(value),
)
def test_a_duration_string_is_read_as_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0s", "greater than zero"),
        ("1.5h", "whole number"),
        ("5", "whole number"),
        ("-1m", "whole number"),
        ("1y", "whole number"),
        ("1M", "whole number"),
        (" 5m", "whole number"),
        ("5m ", "whole number"),
        ("5 m", "whole number"),
        ("1h30m", "whole number"),
        ("5m\n", "whole number"),
        ("", "whole number"),
        ("٣m", "whole number"),
        ("3651d", "at most 3650d"),
        ("9999999999999w", "whole number"),
    ],
    ids=repr,
)
def test_a_malformed_duration_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)


@pytest.mark.parametrize("value", [5, 1.5, None, True, ["5m"]], ids=repr)
def test_a_duration_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected a duration string"):
        parse_duration(value)


def test_zero_is_a_duration_only_where_it_is_allowed() -> None:
    assert parse_duration("0s", allow_zero=True) == 0
    assert parse_duration("0h", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (90, "90s"),
        (3_600, "1h"),
        (5_400, "90m"),
        (86_400, "1d"),
        (172_800, "2d"),
        (604_800, "1w"),
        (691_200, "8d"),
    ],
    ids=repr,
)
def test_a_duration_is_written_in_its_largest_exact_unit(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [-1, 1.0, True], ids=repr)
def test_only_whole_non_negative_seconds_can_be_written(value: int) -> None:
    with pytest.raises(ValueError):
        format_duration(value)


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_writing_then_reading_a_duration_gives_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.integers(min_value=1, max_value=520),
    st.sampled_from(["s", "m", "h", "d", "w"]),
)
def test_reading_then_writing_a_duration_gives_a_canonical_equal_string(
    amount: int, unit: str
) -> None:
    text = format_duration(parse_duration(f"{amount}{unit}"))

    assert parse_duration(text) == parse_duration(f"{amount}{unit}")
    assert format_duration(parse_duration(text)) == text
