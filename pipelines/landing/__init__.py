"""Land one UTC day of interactions into `raw.interactions`, exactly once (Dagster-free: the asset wraps it).

The day is replaced in one transaction, write-audit-publish: delete the partition, stream the window's pages in
batches, drop duplicate ids, then audit the new day inside the transaction (every distinct record the server
counted arrived, ids unique across partitions, positions >= 0, the quarantined share under its limit) and
commit only when every audit passes. Other connections never see the uncommitted day; a failed audit or any
other failure rolls back, so the warehouse keeps the day as it was; a re-run gives the same table. Records
that fail validation go to `raw.rejected_interactions` with the reason and the raw JSON.

The modules: `records` (a record validated, or quarantined with its reason), `day` (the day's transaction:
write, audit, publish) and `audits` (what must hold before the day commits, and the day's report).
"""

from interactions_etl.landing.audits import DEFAULT_MAX_REJECTED_SHARE, LoadAuditError, LoadReport, audit_day
from interactions_etl.landing.day import day_window, land_records, load_day, replace_day_from_staged
from interactions_etl.landing.records import DEFAULT_MAX_RECORD_BYTES, ValidatedPage, validate_record

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "DEFAULT_MAX_REJECTED_SHARE",
    "LoadAuditError",
    "LoadReport",
    "ValidatedPage",
    "audit_day",
    "day_window",
    "land_records",
    "load_day",
    "replace_day_from_staged",
    "validate_record",
]
