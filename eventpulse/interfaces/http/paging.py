"""Query parameters the list endpoints share (a time range, keyset paging), and the list body.

`since`/`until` are RFC 3339 with an offset, `since <= ts < until`; `limit` is 1..1000
(default 100); `cursor` is the previous page's `next_cursor` (application/queries.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import AwareDatetime, BeforeValidator

from eventpulse.application.queries import MAX_LIMIT, Page
from eventpulse.interfaces.http.schemas import ErrorOut, Name

T = TypeVar("T")

_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text(value: Any) -> Any:
    # Query values are always text, and pydantic would read "1714564800" as Unix seconds.
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset")
    return value


QueryTimestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
Since = Annotated[QueryTimestamp | None, Query(description="RFC 3339 with offset; inclusive")]
Until = Annotated[QueryTimestamp | None, Query(description="RFC 3339 with offset; exclusive")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
NameFilter = Annotated[Name | None, Query()]

LIST_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (422, 503)}


def list_body(page: Page[T], document: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [document(item) for item in page.items], "next_cursor": page.next_cursor}
