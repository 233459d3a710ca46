"""Shapes of the rules API's documents, for OpenAPI (validation is `parse_rule`'s)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from eventpulse.application.rule_ids import RULE_ID_PATTERN


class RuleIn(BaseModel):
    """A rule document (see the design brief); each type adds its own fields."""

    model_config = ConfigDict(extra="allow")

    rule_id: str | None = Field(
        default=None,
        pattern=RULE_ID_PATTERN,
        description="POST only (optional): the id to create; derived from the name if absent",
    )
    name: str
    type: Literal["match", "threshold", "spike", "absence", "new_value"]
    description: str = ""
    enabled: bool = True
    severity: Literal["info", "warning", "critical"] = "warning"
    filter: dict[str, Any] | None = None
    group_by: list[str] = []
    cooldown: str | None = None
    message: str | None = None
    tags: list[str] = []
    lateness: str = "0s"


class RuleOut(RuleIn):
    """A rule resource: the normalised document, its id and its live version."""

    rule_id: str
    version: int
    created_at: datetime
    updated_at: datetime


class RuleVersionOut(RuleIn):
    """One immutable version of a rule."""

    rule_id: str
    version: int
    created_at: datetime
    note: str | None


class RuleListOut(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None


class RuleVersionListOut(BaseModel):
    items: list[RuleVersionOut]
    next_cursor: str | None


class EnabledIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool
