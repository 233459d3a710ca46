"""The rule language, pure: durations, field references, safe regexes, conditions and the rule
document. `parse_rule` is the way in; see `document` for the shape."""

from eventpulse.domain.rules.conditions import MATCH_ALL, Condition, parse_condition
from eventpulse.domain.rules.document import RuleSpec, Severity, parse_rule
from eventpulse.domain.rules.durations import format_duration, parse_duration
from eventpulse.domain.rules.fields import MISSING, FieldRef
from eventpulse.domain.rules.params import (
    AbsenceParams,
    Aggregation,
    MatchParams,
    NewValueParams,
    Params,
    RuleType,
    SpikeParams,
    ThresholdOp,
    ThresholdParams,
)
from eventpulse.domain.rules.safe_regex import SafeRegex, compile_safe

__all__ = [
    "MATCH_ALL",
    "MISSING",
    "AbsenceParams",
    "Aggregation",
    "Condition",
    "FieldRef",
    "MatchParams",
    "NewValueParams",
    "Params",
    "RuleSpec",
    "RuleType",
    "SafeRegex",
    "Severity",
    "SpikeParams",
    "ThresholdOp",
    "ThresholdParams",
    "compile_safe",
    "format_duration",
    "parse_condition",
    "parse_duration",
    "parse_rule",
]
