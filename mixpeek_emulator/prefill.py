"""Fill an emulator namespace with synthetic traffic, bypassing HTTP (a million records in seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from mixpeek_emulator.app import Emulator, PublicRetriever, reward_value
from mixpeek_emulator.generator import TrafficConfig, generate_traffic


def enrich(record: dict[str, Any]) -> dict[str, Any]:
    """What the service adds on write: metadata.reward_value (see app.REWARD_MAP)."""
    metadata = dict(record.get("metadata") or {})
    metadata["reward_value"] = reward_value(record["interaction_type"])
    return {**record, "metadata": metadata}


def prefill(
    emulator: Emulator,
    namespace: str,
    *,
    seed: int,
    start: date,
    days: int,
    per_day: int,
    config: TrafficConfig | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Generate traffic into `namespace`, publish its retrievers for the public routes, return the ground truth."""
    store = emulator.add_namespace(namespace)
    traffic = generate_traffic(config or TrafficConfig(seed=seed, start=start, days=days, per_day=per_day))
    records: Iterator[dict[str, Any]] = (enrich(r) for r in traffic.records())
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"pre-filling {namespace}", total=days * per_day)

            def counted(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
                for i, row in enumerate(rows, 1):
                    if i % 10_000 == 0:
                        bar.update(task, completed=i)
                    yield row

            store.bulk_insert(counted(records))
    else:
        store.bulk_insert(records)
    truth = traffic.ground_truth()
    for spec in traffic.config.retrievers:
        public_name = spec.retriever_id.removeprefix("ret_").replace("_", "-")
        emulator.config.public_retrievers.setdefault(
            public_name, PublicRetriever(namespace, spec.retriever_id)
        )
    return truth
