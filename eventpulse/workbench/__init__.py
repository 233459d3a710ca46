"""The notebook workbench: load events into pandas, write and backtest rules on the worker's
engine, score them against labelled incidents, compare them with the live version, publish
them through the reload channel, and plot it all.

>>> from eventpulse.workbench import Workbench, threshold, where, score
>>> wb = Workbench.connect()

Importing this package is cheap: pandas and plotly load with the first name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventpulse.workbench.authoring import (
        InvalidRule,
        Rule,
        absence,
        match,
        new_value,
        rule,
        spike,
        threshold,
        where,
    )
    from eventpulse.workbench.comparison import Comparison, compare
    from eventpulse.workbench.display import setup_notebook
    from eventpulse.workbench.plots import event_rate, timeline
    from eventpulse.workbench.publishing import Publication, PublishNotConfirmed, RuleDiff
    from eventpulse.workbench.results import BacktestResult
    from eventpulse.workbench.scoring import Score, score
    from eventpulse.workbench.session import TooManyRows, Workbench

_HOMES = {
    "Workbench": "session",
    "TooManyRows": "session",
    "Rule": "authoring",
    "InvalidRule": "authoring",
    "rule": "authoring",
    "where": "authoring",
    "threshold": "authoring",
    "match": "authoring",
    "spike": "authoring",
    "absence": "authoring",
    "new_value": "authoring",
    "BacktestResult": "results",
    "Score": "scoring",
    "score": "scoring",
    "Comparison": "comparison",
    "compare": "comparison",
    "Publication": "publishing",
    "PublishNotConfirmed": "publishing",
    "RuleDiff": "publishing",
    "timeline": "plots",
    "event_rate": "plots",
    "setup_notebook": "display",
}

__all__ = [
    "BacktestResult",
    "Comparison",
    "InvalidRule",
    "Publication",
    "PublishNotConfirmed",
    "Rule",
    "RuleDiff",
    "Score",
    "TooManyRows",
    "Workbench",
    "absence",
    "compare",
    "event_rate",
    "match",
    "new_value",
    "rule",
    "score",
    "setup_notebook",
    "spike",
    "threshold",
    "timeline",
    "where",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
