"""Optional pseudonymisation of user ids at landing (Dagster-free).

With INTERACTIONS_PSEUDONYMISE_KEY set, every `"user_id": "..."` in a record (top level or nested, accepted or
quarantined) is replaced, before anything is written, by `u_` + the first 32 hex digits of
HMAC-SHA256(key, user_id). The same user gets the same pseudonym on every day, so sessions and per-user
counts still work; without the key the mapping cannot be recomputed. The key is read from the environment
only, never stored, logged or passed to DuckDB.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import orjson

# A JSON string value of a "user_id" key, escapes included.
_USER_ID_VALUE = re.compile(rb'("user_id"\s*:\s*)"((?:[^"\\]|\\.)*)"')


def quarantined_user_id(raw: bytes) -> str | None:
    """The user_id of a record as received, for the quarantine's column that erasure deletes by: the top-level
    field of JSON that parses; for JSON that does not, the first `"user_id": "..."` field alone, its escapes
    read as JSON reads them (never a match on any other field). None where there is none."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        found = _USER_ID_VALUE.search(raw)
        if found is None:
            return None
        literal = b'"' + found.group(2) + b'"'
        try:
            value = json.loads(literal.decode("utf-8", "surrogateescape"))
            value.encode("utf-8")  # a lone surrogate cannot be stored: keep the text as written
        except (ValueError, UnicodeError):
            return found.group(2).decode("utf-8", "replace")
        return value
    if not isinstance(parsed, dict):
        return None
    value = parsed.get("user_id")
    if isinstance(value, bool):
        return None
    return str(value) if isinstance(value, str | int) else None


class Pseudonymiser:
    def __init__(self, key: str | bytes) -> None:
        if not key:
            raise ValueError("a pseudonymisation key must not be empty")
        self._key = key.encode() if isinstance(key, str) else key

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"

    def pseudonym(self, user_id: str) -> str:
        return "u_" + hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:32]

    def apply(self, line: bytes) -> bytes:
        """The JSON text with every user_id value replaced by its pseudonym (works on malformed JSON too)."""

        def replace(match: re.Match[bytes]) -> bytes:
            user_id = json.loads(b'"' + match.group(2) + b'"')
            return match.group(1) + b'"' + self.pseudonym(user_id).encode() + b'"'

        return _USER_ID_VALUE.sub(replace, line)
