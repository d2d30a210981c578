"""How much memory DuckDB may use (Dagster-free): WAREHOUSE_MEMORY_LIMIT, else a share of what the process can
see. DuckDB's own default is 80% of the machine's RAM, which ignores a container's cgroup limit and the other
processes of a deployment (the API emulator, Dagster's daemon and webserver, a second load on a lake): half of
the smaller of the two leaves them room, and DuckDB spills beyond it.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SHARE = 0.5
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def visible_memory_bytes() -> int:
    """The machine's RAM, or the cgroup's limit where one is set and smaller."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = [physical]
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) means none; v1 says none with a huge number, which min() ignores
            limits.append(int(text))
    return min(limits)


def default_memory_limit(share: float = DEFAULT_SHARE) -> str:
    """The limit in effect when WAREHOUSE_MEMORY_LIMIT is unset, in DuckDB's words (e.g. `12288MiB`)."""
    return f"{max(256, int(visible_memory_bytes() * share) // 2**20)}MiB"
