"""A record validated before it is written (Dagster-free): parsed from the page's bytes, typed, within the day,
within its size; a record that fails goes to the quarantine with the reason and its raw JSON."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import msgspec
import orjson

from interactions_etl.mixpeek.models import INTERACTION_DECODER, INTERACTION_FIELDS, KNOWN_INTERACTION_TYPES
from interactions_etl.mixpeek.paging import Window
from interactions_etl.privacy import quarantined_user_id

# A record larger than this is quarantined: API records are about 1 KB (metadata included), and one of many
# megabytes would make every later staging refresh run out of memory. 256 KiB is 200 times the usual size.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024


LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


INTERACTION_ID = re.compile(rb'"interaction_id"\s*:\s*"([^"\\]{1,200})"')


def rejection(raw: bytes, reason: str, *, kept_bytes: int | None = None) -> dict[str, Any]:
    """A quarantine row: the id and the user where they can be read, the reason, the JSON as received (its
    first `kept_bytes` only, for a record too large to keep)."""
    user_id = quarantined_user_id(raw)
    interaction_id = None
    if kept_bytes is None:
        try:
            parsed = orjson.loads(raw)
            if isinstance(parsed, dict) and isinstance(parsed.get("interaction_id"), str):
                interaction_id = parsed["interaction_id"]
        except orjson.JSONDecodeError:
            interaction_id = _readable_id(raw)
    else:
        interaction_id = _readable_id(raw)
        raw = raw[:kept_bytes]
    return {
        "interaction_id": interaction_id,
        "reason": reason,
        "raw_json": raw.decode("utf-8", "replace"),
        "user_id": user_id,
    }


def _readable_id(raw: bytes) -> str | None:
    """The interaction_id of JSON that cannot be parsed (broken, or too large to parse), where it can be read."""
    found = INTERACTION_ID.search(raw)
    return found.group(1).decode("utf-8", "replace") if found else None


def _is_json_object_or_null(raw: msgspec.Raw) -> bool:
    data = bytes(raw)
    return data[:1] == b"{" or data == b"null"


@dataclass
class ValidatedPage:
    lines: list[bytes] = field(default_factory=list)  # accepted records as JSON lines, ready for DuckDB
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unknown_types: Counter[str] = field(default_factory=Counter)
    outside_window: int = 0  # records stamped outside the window asked for (each also quarantined)


def validate_record(
    raw: msgspec.Raw, window: Window, page: ValidatedPage, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> None:
    """Accept one record (append its JSON line) or quarantine it with the reason."""
    data = bytes(raw)
    if len(data) > max_record_bytes:
        page.rejected.append(
            rejection(
                data,
                f"a record of {len(data):,} bytes, over the limit of {max_record_bytes:,}",
                kept_bytes=4096,
            )
        )
        return
    try:
        record = INTERACTION_DECODER.decode(data)
        line = data
    except msgspec.ValidationError as exc:
        if "unknown field" not in str(exc):
            page.rejected.append(rejection(data, str(exc)))
            return
        # A newer API: keep the fields we know typed and the rest in `extra`.
        parsed = orjson.loads(data)
        known = {k: v for k, v in parsed.items() if k in INTERACTION_FIELDS}
        extra = {k: v for k, v in parsed.items() if k not in INTERACTION_FIELDS}
        try:
            record = INTERACTION_DECODER.decode(orjson.dumps(known))
        except msgspec.ValidationError as inner:
            page.rejected.append(rejection(data, str(inner)))
            return
        line = orjson.dumps({**known, "extra": extra})
    except msgspec.DecodeError as exc:
        if LONE_SURROGATE.search(data):
            reason = "text that is not valid Unicode (a lone UTF-16 surrogate, or invalid UTF-8)"
        else:
            reason = f"not a JSON object: {exc}"
        page.rejected.append(rejection(data, reason))
        return
    if not (_is_json_object_or_null(record.metadata) and _is_json_object_or_null(record.query_snapshot)):
        page.rejected.append(rejection(data, "metadata and query_snapshot must be JSON objects or null"))
        return
    stamp = (
        record.timestamp if record.timestamp.tzinfo else record.timestamp.replace(tzinfo=UTC)
    )  # naive = UTC
    if not window.start <= stamp < window.end:
        # A record outside the window it was asked for would land in the wrong partition.
        page.outside_window += 1
        page.rejected.append(rejection(data, f"timestamp {stamp.isoformat()} outside the requested window"))
        return
    if not KNOWN_INTERACTION_TYPES.issuperset(record.interaction_type):
        for name in record.interaction_type:
            if name.lower() not in KNOWN_INTERACTION_TYPES:
                page.unknown_types[name.lower()] += 1
    page.lines.append(line)
