"""Rule ids: the accepted shape, and ids derived from a rule's name.

An id is 1..64 characters of `a-z 0-9 _ . -`, starting with a letter or digit, so it is safe in
URLs, file names and Redis channel names as it is. A derived id is the name's slug plus a short
random suffix (`checkout-errors-3f9a1c`): readable, and two rules of the same name do not clash.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

RULE_ID: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
RULE_ID_PATTERN: Final = f"^{RULE_ID.pattern}$"

_SUFFIX_CHARS: Final = 6
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")


def is_rule_id(value: object) -> bool:
    return isinstance(value, str) and RULE_ID.fullmatch(value) is not None


def random_suffix() -> str:
    return secrets.token_hex(_SUFFIX_CHARS // 2)


def derived_rule_id(name: str, suffix: str) -> str:
    """`slug(name)-suffix`, within the id's 64 characters; `rule-suffix` for a name without
    letters or digits."""
    room = 64 - len(suffix) - 1
    slug = _NOT_SLUG.sub("-", name.lower())[:room].strip("-") or "rule"
    return f"{slug}-{suffix}"
