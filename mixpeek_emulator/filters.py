"""The list route's filter grammar (LogicalOperator), compiled once into a predicate over stored records.

Grammar (api-notes.md, "Filters"): shorthand `{"position": {"lte": 5}}` / `{"$lte": 5}` / `{"metadata.device":
"mobile"}` with several keys ANDed; explicit `AND`/`OR`/`NOT` lists of nodes or `{field, operator, value}`
conditions; `case_sensitive` at any level (innermost wins). Semantics follow the document store behind the service
(MongoDB-like): equality on a list field matches an element, missing fields never satisfy a comparison, `eq null`
matches a missing field.

Conjuncts on `timestamp` that are certainly ANDed at the top level become a TimeRange the store answers from its
sorted index; everything else becomes the residual predicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixpeek_emulator.records import StoredRecord, parse_instant

MAX_FILTER_DEPTH = 8  # the service's limit is unpublished; deeper filters answer 422
OPERATORS = frozenset(
    {
        "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "starts_with", "ends_with", "regex",
        "exists", "is_null", "text", "phrase", "words",
    }
)  # fmt: skip
GEO_OPERATORS = frozenset({"geo_radius", "geo_bounding_box", "geo_polygon"})
LOGICAL_KEYS = frozenset({"AND", "OR", "NOT"})
EXACT_BODY_FIELDS = ("execution_id", "retriever_id", "session_id", "user_id", "feature_id")
_WORD = re.compile(r"\w+", re.UNICODE)

Predicate = Callable[[StoredRecord], bool]
Location = list[str | int]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FilterError(ValueError):
    def __init__(self, message: str, location: Location, error_type: str = "value_error") -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.error_type = error_type


@dataclass(frozen=True)
class TimeRange:
    lower_us: int | None = None
    lower_inclusive: bool = True
    upper_us: int | None = None
    upper_inclusive: bool = False

    def contains(self, ts_us: int) -> bool:
        if self.lower_us is not None and (
            ts_us < self.lower_us or (ts_us == self.lower_us and not self.lower_inclusive)
        ):
            return False
        return not (
            self.upper_us is not None
            and (ts_us > self.upper_us or (ts_us == self.upper_us and not self.upper_inclusive))
        )

    def intersect(self, other: TimeRange) -> TimeRange:
        lower, lower_inc = self.lower_us, self.lower_inclusive
        if other.lower_us is not None and (
            lower is None or other.lower_us > lower or (other.lower_us == lower and not other.lower_inclusive)
        ):
            lower, lower_inc = other.lower_us, other.lower_inclusive
        upper, upper_inc = self.upper_us, self.upper_inclusive
        if other.upper_us is not None and (
            upper is None or other.upper_us < upper or (other.upper_us == upper and not other.upper_inclusive)
        ):
            upper, upper_inc = other.upper_us, other.upper_inclusive
        return TimeRange(lower, lower_inc, upper, upper_inc)


@dataclass(frozen=True)
class CompiledQuery:
    time_range: TimeRange | None
    predicate: Predicate | None

    def matches(self, record: StoredRecord) -> bool:
        if self.time_range is not None and not self.time_range.contains(record.ts_us):
            return False
        return self.predicate is None or self.predicate(record)


# -- field access ---------------------------------------------------------------------------------------------


def resolve_field(record: StoredRecord, path: str) -> Any:
    """The value at a dot path, MISSING when absent. Datetime fields resolve to epoch microseconds."""
    if path in ("timestamp", "created_at"):
        return record.ts_us
    if path == "occurred_at":
        return (
            MISSING if record.occurred_us is None and "occurred_at" not in record.data else record.occurred_us
        )
    value: Any = record.data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


def _accessor(path: str) -> Callable[[StoredRecord], Any]:
    if path in ("timestamp", "created_at"):
        return lambda r: r.ts_us
    if path == "occurred_at":
        return lambda r: r.occurred_us
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]
        return lambda r: r.data.get(key, MISSING)

    def nested(r: StoredRecord) -> Any:
        value: Any = r.data
        for part in parts:
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return MISSING
        return value

    return nested


def _is_datetime_field(path: str) -> bool:
    return path in ("timestamp", "created_at", "occurred_at")


# -- value semantics --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold(value: Any, case_sensitive: bool) -> Any:
    if not case_sensitive and isinstance(value, str):
        return value.casefold()
    if not case_sensitive and isinstance(value, list):
        return [_fold(v, False) for v in value]
    return value


def _equal(stored: Any, wanted: Any, case_sensitive: bool) -> bool:
    if stored is MISSING or stored is None:
        return wanted is None
    if isinstance(stored, list) and not isinstance(wanted, list):
        return any(_equal(element, wanted, case_sensitive) for element in stored)
    if _is_number(stored) and _is_number(wanted):
        return stored == wanted
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted if isinstance(stored, bool) and isinstance(wanted, bool) else False
    return _fold(stored, case_sensitive) == _fold(wanted, case_sensitive)


def _comparable(stored: Any, wanted: Any) -> bool:
    if _is_number(stored) and _is_number(wanted):
        return True
    return isinstance(stored, str) and isinstance(wanted, str)


def _strings(stored: Any) -> list[str]:
    """The strings a string test looks at: the value, or each string element of a list."""
    if isinstance(stored, str):
        return [stored]
    if isinstance(stored, list):
        return [v for v in stored if isinstance(v, str)]
    return []


def _words(text: str, case_sensitive: bool) -> list[str]:
    return _WORD.findall(text if case_sensitive else text.casefold())


# -- compilation ------------------------------------------------------------------------------------------------


def _condition(field: Any, operator: Any, value: Any, case_sensitive: bool, loc: Location) -> Predicate:
    if not isinstance(field, str) or not field:
        raise FilterError("field must be a non-empty string", [*loc, "field"])
    if field in LOGICAL_KEYS or field == "case_sensitive":
        raise FilterError(f"{field!r} is not a field name", [*loc, "field"])
    op = operator.lstrip("$") if isinstance(operator, str) else operator
    if op in GEO_OPERATORS:
        raise FilterError(
            f"operator {op!r} is not supported on interactions (no geo fields)",
            [*loc, "operator"],
            "unsupported_operator",
        )
    if op not in OPERATORS:
        raise FilterError(
            f"unknown operator {operator!r}; expected one of {sorted(OPERATORS)}",
            [*loc, "operator"],
            "unsupported_operator",
        )
    if isinstance(value, dict) and value.get("type") == "dynamic":
        raise FilterError("dynamic values need a runtime query; the list route has none", [*loc, "value"])
    get = _accessor(field)

    if _is_datetime_field(field) and op in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"):
        value = _instants(value, [*loc, "value"])

    if op == "eq":
        return lambda r: _equal(get(r), value, case_sensitive)
    if op == "ne":
        return lambda r: not _equal(get(r), value, case_sensitive)
    if op in ("in", "nin"):
        if not isinstance(value, list):
            raise FilterError(f"{op} needs a list value", [*loc, "value"])
        options = list(value)
        if op == "in":
            return lambda r: any(_equal(get(r), option, case_sensitive) for option in options)
        return lambda r: not any(_equal(get(r), option, case_sensitive) for option in options)
    if op in ("gt", "gte", "lt", "lte"):
        if not (_is_number(value) or isinstance(value, str)):
            raise FilterError(f"{op} compares numbers, strings or dates", [*loc, "value"])
        compare = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }[op]

        def ordered(r: StoredRecord) -> bool:
            stored = get(r)
            if isinstance(stored, list):
                return any(_comparable(v, value) and compare(v, value) for v in stored)
            return (
                stored is not None
                and stored is not MISSING
                and _comparable(stored, value)
                and compare(stored, value)
            )

        return ordered
    if op == "exists":
        if not isinstance(value, bool):
            raise FilterError("exists takes true or false", [*loc, "value"])
        return lambda r: (get(r) is not MISSING) == value
    if op == "is_null":
        if not isinstance(value, bool):
            raise FilterError("is_null takes true or false", [*loc, "value"])
        return lambda r: (get(r) is None or get(r) is MISSING) == value
    if not isinstance(value, str):
        raise FilterError(f"{op} takes a string value", [*loc, "value"])
    if op == "regex":
        try:
            pattern = re.compile(value, 0 if case_sensitive else re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"invalid regular expression: {exc}", [*loc, "value"]) from exc
        return lambda r: any(pattern.search(s) for s in _strings(get(r)))
    needle = value if case_sensitive else value.casefold()
    if op == "contains":
        return lambda r: any(needle in _fold(s, case_sensitive) for s in _strings(get(r)))
    if op == "starts_with":
        return lambda r: any(_fold(s, case_sensitive).startswith(needle) for s in _strings(get(r)))
    if op == "ends_with":
        return lambda r: any(_fold(s, case_sensitive).endswith(needle) for s in _strings(get(r)))
    wanted = _words(value, case_sensitive)
    if not wanted:
        raise FilterError(f"{op} needs at least one word", [*loc, "value"])
    if op == "text":  # any word
        wanted_set = set(wanted)
        return lambda r: any(wanted_set & set(_words(s, case_sensitive)) for s in _strings(get(r)))
    if op == "words":  # every word
        wanted_set = set(wanted)
        return lambda r: any(wanted_set <= set(_words(s, case_sensitive)) for s in _strings(get(r)))
    # phrase: the words in sequence
    size = len(wanted)

    def phrase(r: StoredRecord) -> bool:
        for s in _strings(get(r)):
            words = _words(s, case_sensitive)
            if any(words[i : i + size] == wanted for i in range(len(words) - size + 1)):
                return True
        return False

    return phrase


def _instants(value: Any, loc: Location) -> Any:
    try:
        if isinstance(value, list):
            return [parse_instant(v) if v is not None else None for v in value]
        return None if value is None else parse_instant(value)
    except (ValueError, TypeError) as exc:
        raise FilterError(f"not an ISO-8601 date-time: {value!r}", loc, "datetime_parsing") from exc


def _all(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda r: all(p(r) for p in predicates)


@dataclass
class _Compiled:
    predicate: Predicate | None  # None = always true
    time_range: TimeRange | None  # bounds extracted from certain top-level conjuncts


_TIME_OPS = {"gt": (True, False), "gte": (True, True), "lt": (False, False), "lte": (False, True)}


def _range_of(field: str, op: str, value: Any) -> TimeRange | None:
    """A TimeRange equivalent to one condition on timestamp, if it is a plain range or equality."""
    if field not in ("timestamp", "created_at") or isinstance(value, list) or value is None:
        return None
    if op == "eq":
        return TimeRange(value, True, value, True)
    if op in _TIME_OPS:
        is_lower, inclusive = _TIME_OPS[op]
        return (
            TimeRange(lower_us=value, lower_inclusive=inclusive)
            if is_lower
            else TimeRange(upper_us=value, upper_inclusive=inclusive)
        )
    return None


def _compile_node(node: Any, case_sensitive: bool, depth: int, loc: Location, top_level: bool) -> _Compiled:
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"filters nest deeper than {MAX_FILTER_DEPTH} levels", loc, "too_deep")
    if not isinstance(node, dict):
        raise FilterError("a filter node must be an object", loc)
    node_case = node.get("case_sensitive")
    if node_case is not None:
        if not isinstance(node_case, bool):
            raise FilterError("case_sensitive must be true or false", [*loc, "case_sensitive"])
        case_sensitive = node_case
    if (
        "field" in node
        and isinstance(node.get("field"), str)
        and set(node) <= {"field", "operator", "value", "case_sensitive"}
    ):
        return _compile_condition(node, case_sensitive, loc, top_level)

    predicates: list[Predicate] = []
    time_range: TimeRange | None = None
    for key, value in node.items():
        if key == "case_sensitive" or (value is None and key in LOGICAL_KEYS):
            continue
        if key in LOGICAL_KEYS:
            if not isinstance(value, list):
                raise FilterError(f"{key} takes a list of filter nodes", [*loc, key])
            if not value:
                raise FilterError(f"{key} must not be empty", [*loc, key])
            children = [
                _compile_node(child, case_sensitive, depth + 1, [*loc, key, i], top_level and key == "AND")
                for i, child in enumerate(value)
            ]
            if key == "AND":
                for child in children:
                    if child.predicate is not None:
                        predicates.append(child.predicate)
                    if child.time_range is not None:
                        time_range = (
                            child.time_range if time_range is None else time_range.intersect(child.time_range)
                        )
            else:
                # Under OR/NOT a child's time range is part of its meaning: fold it back into its predicate.
                parts = [_as_predicate(child) for child in children]
                if key == "OR":
                    predicates.append(lambda r, parts=parts: any(p(r) for p in parts))
                else:
                    predicates.append(lambda r, parts=parts: not any(p(r) for p in parts))
            continue
        # Shorthand: a field name with a value, or with an operator map (every key an operator, `$` optional).
        if isinstance(value, dict):
            if not value:
                raise FilterError(f"{key!r}: an operator map needs at least one operator", [*loc, key])
            for op, operand in value.items():
                compiled = _compile_condition(
                    {"field": key, "operator": op, "value": operand},
                    case_sensitive,
                    [*loc, key, op],
                    top_level,
                )
                if compiled.predicate is not None:
                    predicates.append(compiled.predicate)
                if compiled.time_range is not None:
                    time_range = (
                        compiled.time_range
                        if time_range is None
                        else time_range.intersect(compiled.time_range)
                    )
        else:
            compiled = _compile_condition(
                {"field": key, "operator": "eq", "value": value}, case_sensitive, [*loc, key], top_level
            )
            if compiled.predicate is not None:
                predicates.append(compiled.predicate)
            if compiled.time_range is not None:
                time_range = (
                    compiled.time_range if time_range is None else time_range.intersect(compiled.time_range)
                )
    return _Compiled(predicate=_all(predicates) if predicates else None, time_range=time_range)


def _compile_condition(
    node: dict[str, Any], case_sensitive: bool, loc: Location, top_level: bool
) -> _Compiled:
    if "value" not in node:
        raise FilterError("a condition needs a value", [*loc, "value"], "missing")
    cond_case = node.get("case_sensitive")
    if cond_case is not None:
        if not isinstance(cond_case, bool):
            raise FilterError("case_sensitive must be true or false", [*loc, "case_sensitive"])
        case_sensitive = cond_case
    field, operator, value = node["field"], node.get("operator") or "eq", node["value"]
    predicate = _condition(field, operator, value, case_sensitive, loc)
    if top_level and isinstance(operator, str):
        op = operator.lstrip("$")
        instant = _instants(value, [*loc, "value"]) if field in ("timestamp", "created_at") else None
        time_range = _range_of(field, op, instant) if instant is not None else None
        if time_range is not None:
            return _Compiled(predicate=None, time_range=time_range)
    return _Compiled(predicate=predicate, time_range=None)


def _as_predicate(compiled: _Compiled) -> Predicate:
    rng, pred = compiled.time_range, compiled.predicate
    if rng is None:
        return pred if pred is not None else (lambda r: True)
    if pred is None:
        return lambda r: rng.contains(r.ts_us)
    return lambda r: rng.contains(r.ts_us) and pred(r)


def compile_filters(filters: dict[str, Any] | None) -> CompiledQuery:
    if filters is None:
        return CompiledQuery(time_range=None, predicate=None)
    compiled = _compile_node(filters, False, 1, ["body", "filters"], top_level=True)
    return CompiledQuery(time_range=compiled.time_range, predicate=compiled.predicate)


def _search_predicate(term: str) -> Predicate:
    needle = term.casefold()

    def values(value: Any) -> Any:
        if isinstance(value, dict):
            for v in value.values():
                yield from values(v)
        elif isinstance(value, list):
            for v in value:
                yield from values(v)
        elif value is not None:
            yield str(value).casefold()

    def search(r: StoredRecord) -> bool:
        return any(needle in text for text in values(r.data.get("metadata") or {}))

    return search


def compile_list_query(body: dict[str, Any] | None) -> CompiledQuery:
    """The whole list body (exact fields, interaction_type, filters, search) as one query; `sort` is ignored."""
    body = body or {}
    base = compile_filters(body.get("filters"))
    predicates: list[Predicate] = [] if base.predicate is None else [base.predicate]
    for name in EXACT_BODY_FIELDS:
        wanted = body.get(name)
        if wanted is not None:
            predicates.append(lambda r, name=name, wanted=wanted: r.data.get(name) == wanted)
    wanted_type = body.get("interaction_type")
    if wanted_type is not None:
        folded = str(wanted_type).casefold()
        predicates.append(lambda r: folded in r.data.get("interaction_type", ()))
    if body.get("search"):
        predicates.append(_search_predicate(str(body["search"])))
    return CompiledQuery(time_range=base.time_range, predicate=_all(predicates) if predicates else None)
