from __future__ import annotations

import pytest

from eventpulse.domain.rules.safe_regex import MAX_SCAN_CHARS, SafeRegex, compile_safe

NESTED = "nested quantifier"
ALTERNATION = "overlapping alternatives"
SEQUENCE = "quantifiers in sequence can match the same text"


@pytest.mark.parametrize(
    "pattern",
    [
        r"^ERROR",
        r"timeout|refused",
        r"\d{3}-\d{4}",
        r"user=(\w+)",
        r"[a-z]+@example\.com",
        r"(?i)error.*timeout",
        r"(\d{1,3}\.){3}\d{1,3}",
        r"\d+\.\d+",
        r"\d+(\.\d+)?",
        r"\w+@\w+\.\w+",
        r"https?://[^/\s]+/api/v\d+",
        r"^\s*(\w+)\s*=",
        r"(GET|POST)+ /",
        r"(?:ab)+c",
        r"\bfatal\b",
        r"colou?r",
        r".*(foo)?bar",
        r"[A-Z]{3}-\d+$",
        r"(?P<code>5\d\d)",
    ],
)
def test_a_common_useful_pattern_is_accepted(pattern: str) -> None:
    assert compile_safe(pattern).pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a+)+$", NESTED),
        (r"(a*)*", NESTED),
        (r"(a+){2,20}", NESTED),
        (r"(\w+\.)+com", NESTED),
        (r"(a?)+", NESTED),
        (r"(a{1,3})+", NESTED),
        (r"(a?){30}a{30}", NESTED),
        (r"([0-9a-f]{1,4}:){7}", NESTED),
        (r"(a|aa)+", ALTERNATION),
        (r"(a|ab)*c", ALTERNATION),
        (r"(x\d|\w\w)+z", ALTERNATION),
        (r"(a|)+", ALTERNATION),
        (r".*a.*b", SEQUENCE),
        (r"a*a*b", SEQUENCE),
        (r"\d+.\d+x", SEQUENCE),
        (r"\d+\.?\d*x", SEQUENCE),
        (r"\s*(.*)x", SEQUENCE),
        (r"error.*timeout.*refused", SEQUENCE),
        (r"\w+\s*\w+", SEQUENCE),
        (r"(?i)[a-z]+[A-Z]+", SEQUENCE),
        (r"a{0,100}a{0,100}", SEQUENCE),
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"(a)?(?(1)b|c)", "conditional groups"),
        (r"foo(?=bar)", "lookahead and lookbehind"),
        (r"foo(?!bar)", "lookahead and lookbehind"),
        (r"(?<=a)b", "lookahead and lookbehind"),
        (r"(?<!a)b", "lookahead and lookbehind"),
        (r"a++b", "possessive quantifiers and atomic groups"),
        (r"(?>ab|a)c", "possessive quantifiers and atomic groups"),
        ("a" * 501, "longer than 500 characters"),
        (r"(unclosed", "invalid regular expression"),
        (r"a{2,1}", "invalid regular expression"),
    ],
    ids=lambda value: value[:40],
)
def test_a_risky_or_unsupported_pattern_is_refused_with_its_reason(
    pattern: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        compile_safe(pattern)


def test_backtracking_refusals_name_the_risk() -> None:
    with pytest.raises(ValueError) as refused:
        compile_safe(r"(a+)+$")

    assert str(refused.value) == "catastrophic backtracking risk: nested quantifier"


def test_a_pattern_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="expected a regular expression string"):
        compile_safe(b"abc")


def test_constructing_a_safe_regex_directly_runs_the_same_checks() -> None:
    with pytest.raises(ValueError, match=NESTED):
        SafeRegex(r"(a+)+")


def test_a_search_finds_the_pattern_anywhere_in_the_text() -> None:
    regex = compile_safe(r"user=(\w+)")

    found = regex.search("login ok user=ada from 10.0.0.1")

    assert found is not None
    assert found[1] == "ada"
    assert compile_safe(r"^ERROR").search("WARN then ERROR") is None


def test_a_search_reads_only_the_first_4096_characters() -> None:
    regex = compile_safe("needle")
    padding = "x" * (MAX_SCAN_CHARS - len("needle"))

    assert regex.search(padding + "needle") is not None
    assert regex.search(padding + "xneedle") is None


def test_safe_regexes_compare_by_pattern() -> None:
    assert compile_safe("a+b") == compile_safe("a+b")
    assert compile_safe("a+b") != compile_safe("a+c")
