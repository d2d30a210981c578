"""Fault injection: the failures a loader must survive, on demand and reproducibly.

Two ways to ask for faults: rates (a share of requests, drawn from a seeded RNG), and a script (the next N
requests fail in the order given), which makes a test deterministic. Faults are set at start (CLI flags) or at
run time (`PUT /_emulator/faults`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

# What a scripted step may be. "ok" passes a request through untouched.
ScriptStep = Literal["ok", "429", "500", "503", "drop", "truncate", "malformed", "duplicate"]
SCRIPT_STEPS: frozenset[str] = frozenset(ScriptStep.__args__)  # type: ignore[attr-defined]
REQUEST_FAULTS = frozenset({"429", "500", "503"})  # answered instead of the handler
BODY_FAULTS = frozenset({"drop", "truncate", "malformed", "duplicate"})  # applied to a list page


@dataclass
class FaultConfig:
    error_rate: float = 0.0  # share of private requests answered 500 or 503 (half each)
    throttle_rate: float = 0.0  # share answered 429 on top of the real limiter (a "429 storm")
    retry_after_seconds: float = 1.0  # what injected 429s and 503s ask the client to wait
    latency_ms: float = 0.0  # added to every private request
    latency_jitter_ms: float = 0.0  # uniform extra on top of latency_ms
    drop_rate: float = 0.0  # share of list pages cut mid-body: the connection closes early
    truncate_rate: float = 0.0  # share of list pages whose JSON ends early in a complete HTTP message
    malformed_rate: float = 0.0  # share of list pages carrying one malformed record
    duplicate_rate: float = 0.0  # share of list pages repeating a record of the previous page
    scope: Literal["list", "all"] = "all"  # request faults hit every private route, or only list
    seed: int = 0
    script: list[str] = field(default_factory=list)

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be within [0, 1], got {value}")
        unknown = [s for s in self.script if s not in SCRIPT_STEPS]
        if unknown:
            raise ValueError(f"unknown script steps {unknown}; known: {sorted(SCRIPT_STEPS)}")
        if self.scope not in ("list", "all"):
            raise ValueError("scope must be 'list' or 'all'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())
        self.injected: dict[str, int] = {}

    def configure(self, config: FaultConfig) -> None:
        config.validate()
        self.config = config
        self._rng = random.Random(config.seed)
        self._script = list(config.script)

    def _count(self, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def latency_seconds(self) -> float:
        c = self.config
        if c.latency_ms <= 0 and c.latency_jitter_ms <= 0:
            return 0.0
        return (c.latency_ms + self._rng.uniform(0, c.latency_jitter_ms)) / 1000.0

    def request_fault(self, is_list: bool) -> str | None:
        """A status to answer instead of the handler, or None. A body fault at the head of the script waits."""
        if self._script:
            if self._script[0] in BODY_FAULTS and not is_list:
                return None
            if self._script[0] in REQUEST_FAULTS or self._script[0] == "ok":
                step = self._script.pop(0)
                return None if step == "ok" else self._count(step)
            return None
        c = self.config
        if c.scope == "list" and not is_list:
            return None
        if c.throttle_rate and self._rng.random() < c.throttle_rate:
            return self._count("429")
        if c.error_rate and self._rng.random() < c.error_rate:
            return self._count(self._rng.choice(("500", "503")))
        return None

    def body_fault(self) -> str | None:
        """For a list page about to be sent: drop, truncate, malformed, duplicate, or None."""
        if self._script:
            if self._script[0] in BODY_FAULTS:
                return self._count(self._script.pop(0))
            return None
        c = self.config
        for kind, rate in (
            ("drop", c.drop_rate),
            ("truncate", c.truncate_rate),
            ("malformed", c.malformed_rate),
            ("duplicate", c.duplicate_rate),
        ):
            if rate and self._rng.random() < rate:
                return self._count(kind)
        return None

    def malformation(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """One record broken the way real feeds break: a reason and the broken copy."""
        broken = dict(record)
        kind = self._rng.choice(("negative_position", "missing_feature_id", "empty_types", "bad_timestamp"))
        if kind == "negative_position":
            broken["position"] = -1
        elif kind == "missing_feature_id":
            broken.pop("feature_id", None)
        elif kind == "empty_types":
            broken["interaction_type"] = []
        else:
            broken["timestamp"] = "not-a-timestamp"
        return kind, broken
