"""One root for every error the product raises on purpose; one subclass per meaning.

The HTTP layer maps these to status codes in one place (`interfaces/http/errors.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field of an input document (`field` is a dotted path)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class EventPulseError(Exception):
    """Base of every deliberate EventPulse error."""


class InvalidInput(EventPulseError):
    """An input document is invalid; `errors` name the fields at fault."""

    def __init__(self, errors: list[FieldError], message: str = "invalid input") -> None:
        super().__init__(message)
        self.errors = errors


class PayloadTooLarge(EventPulseError):
    """A request body or a batch is above its configured limit."""


class NotFound(EventPulseError):
    """The requested resource does not exist."""


class Conflict(EventPulseError):
    """The request clashes with the current state of a resource (an id already in use)."""


class StreamUnavailable(EventPulseError):
    """The ingest stream (Redis) cannot confirm a write right now; nothing was accepted."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StreamBackpressure(EventPulseError):
    """The ingest stream is above its high-water mark; producers should slow down."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(EventPulseError):
    """PostgreSQL cannot be reached right now."""


class ReloadNotConfirmed(EventPulseError):
    """A rule change was stored but live workers did not confirm running it in time.

    `laggards` names them; `rule` is the stored rule resource (None after a delete). The change
    stands: the laggards converge by their periodic resync, and repeating the write (a no-op
    that stores nothing) waits for them again.
    """

    def __init__(self, laggards: list[str], rule: dict[str, object] | None) -> None:
        names = ", ".join(laggards)
        super().__init__(f"the change is stored, but workers did not confirm it in time: {names}")
        self.laggards = laggards
        self.rule = rule


class Unauthenticated(EventPulseError):
    """No API key, or one that is unknown, malformed or revoked (HTTP 401).

    `token_given` tells a missing key from a bad one (RFC 6750's `invalid_token`)."""

    def __init__(self, message: str, *, token_given: bool) -> None:
        super().__init__(message)
        self.token_given = token_given


class Forbidden(EventPulseError):
    """A valid API key without the scope the request needs (HTTP 403)."""

    def __init__(self, message: str, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


class RateLimited(EventPulseError):
    """An API key sent more than its ingestion rate allows; retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
