"""A Dagster logger for the `interactions` CLI: one line per message an asset logs (a day loaded, staging and
marts refreshed, the report written, the copy published), none of Dagster's event stream."""

from __future__ import annotations

import logging
import sys

from dagster import InitLoggerContext, logger


class _AssetMessages(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not isinstance(meta, dict) or meta.get("dagster_event") is not None:
            return  # Dagster's own events (step started, materialized, ...) stay in the UI
        message = meta.get("orig_message")
        if message:
            print(f"  {meta.get('step_key') or 'run'}: {message}", file=sys.stdout, flush=True)


@logger(description="Prints the messages assets log, one line each (the CLI's progress).")
def asset_messages_logger(_: InitLoggerContext) -> logging.Logger:
    out = logging.Logger("interactions_progress", level=logging.INFO)
    out.addHandler(_AssetMessages())
    return out
