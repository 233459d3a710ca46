"""The evaluation engine, pure: (rule version, events in arrival order) -> anomalies.

See SEMANTICS.md beside this file for the exact meaning of every rule type.
"""

from eventpulse.domain.engine.anomaly import Anomaly, anomaly_id
from eventpulse.domain.engine.evaluator import Arrival, Counters, Evaluator, stream_arrival
from eventpulse.domain.engine.watermark import FUTURE_SKEW_LIMIT

__all__ = [
    "FUTURE_SKEW_LIMIT",
    "Anomaly",
    "Arrival",
    "Counters",
    "Evaluator",
    "anomaly_id",
    "stream_arrival",
]
