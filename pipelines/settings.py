"""Every setting of interactions-etl, in one typed place: its environment variable, default and meaning.

The environment is read here and nowhere else (tests/test_settings.py checks it), once, at the edges: the
`interactions` command line and the Dagster definitions call `load_settings()` and pass what they read down.
Each field is read from the variable of the same name in capitals (`warehouse_path` from WAREHOUSE_PATH); an
empty variable counts as unset. `interactions config` prints the effective values with the secrets masked, and
README's configuration table is its `--markdown` output.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from interactions_etl.mixpeek.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_REQUEST_DEADLINE_SECONDS,
    sendable,
)
from interactions_etl.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, DEFAULT_WAREHOUSE_PATH

# Not secrets, but a mistaken value may hold one (a password pasted into the catalog's connection string):
# an error about them does not repeat the value.
MAY_HOLD_A_SECRET = frozenset({"ducklake_catalog"})


WAREHOUSE_SCHEMAS = frozenset({"raw", "staging", "marts", "main"})


class SettingsError(ValueError):
    """A variable that does not parse, named with its value in one line (secrets are not repeated)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", env_ignore_empty=True, case_sensitive=False
    )

    # The API.
    mixpeek_base_url: str = Field(
        DEFAULT_BASE_URL,
        description="The interactions API; an http:// URL that is not loopback gets a warning.",
    )
    mixpeek_api_key: SecretStr | None = Field(
        None,
        description="Bearer key (required to load); never logged or stored (Dagster's code location refers to it "
        "as EnvVar('MIXPEEK_API_KEY'), the CLI hands it over outside Dagster's stored configuration).",
    )
    mixpeek_namespace: str | None = Field(
        None, description="Namespace id or name, sent as X-Namespace (required to load)."
    )
    mixpeek_retriever_id: str | None = Field(None, description="Load only this retriever's interactions.")
    mixpeek_requests_per_second: float = Field(
        10.0, gt=0, description="Request budget per second (the free tier; pro allows 100)."
    )
    mixpeek_max_in_flight: int = Field(
        5, ge=1, description="Requests in flight at once (the free tier; pro allows 50)."
    )
    mixpeek_max_answer_bytes: int = Field(
        DEFAULT_MAX_ANSWER_BYTES,
        ge=1024,
        description="Largest answer read, in bytes, as received and as decoded (gzip): a larger one fails the load "
        "at once, not retried (the same answer would come again). A full page of 1,000 records is about 1 MB; "
        "the default (64 MiB) leaves room for pages of large records and refuses a compressed bomb before it "
        "costs memory.",
    )
    mixpeek_request_deadline_seconds: float = Field(
        DEFAULT_REQUEST_DEADLINE_SECONDS,
        gt=0,
        description="Longest one request may take, answer included, however slowly its bytes arrive (a page "
        "takes under a second); one past it is retried within the retry budget, then fails the load.",
    )
    # The warehouse.
    warehouse_path: Path = Field(Path(DEFAULT_WAREHOUSE_PATH), description="The DuckDB file the loads write.")
    published_warehouse_path: Path | None = Field(
        None,
        description="The analysts' read-only copy, replaced after each build (unset: NAME.published.duckdb "
        "beside the warehouse NAME.duckdb).",
    )
    warehouse_lock_timeout_seconds: float = Field(
        DEFAULT_LOCK_TIMEOUT_SECONDS,
        ge=0,
        description="How long a run waits for another process holding the file before it fails, naming it.",
    )
    # The lake (WAREHOUSE_BACKEND=ducklake, docs/scale.md).
    warehouse_memory_limit: str | None = Field(
        None,
        description="DuckDB's memory limit for each connection a run opens, e.g. `4GB` (unset: half the memory "
        "this process can see, cgroup limits included); staging and the marts refresh a range in batches of days "
        "that fit it (docs/benchmarks.md#memory), and beyond it DuckDB spills to WAREHOUSE_TEMP_DIRECTORY.",
    )
    warehouse_temp_directory: Path | None = Field(
        None,
        description="Where DuckDB spills what does not fit its memory limit (unset: DuckDB's own, NAME.duckdb.tmp "
        "beside the warehouse file; on a lake, the system's temporary folder).",
    )
    warehouse_backend: Literal["file", "ducklake"] = Field(
        "file",
        description="`file`: the DuckDB file WAREHOUSE_PATH (one writer, one host). `ducklake`: a DuckLake, its "
        "catalog in PostgreSQL and its data files in DUCKLAKE_DATA_PATH (parallel loads, many machines, "
        "readers on snapshots).",
    )
    ducklake_catalog: str | None = Field(
        None,
        description="The lake's PostgreSQL catalog as libpq keywords, without the password, e.g. `host=db "
        "port=5432 dbname=lake user=etl`.",
    )
    ducklake_catalog_password: SecretStr | None = Field(
        None,
        description="The catalog user's password; never logged or stored (unset: libpq's own, e.g. ~/.pgpass).",
    )
    ducklake_data_path: str | None = Field(
        None,
        description="Where the lake's Parquet files live: a directory every machine mounts, or `s3://bucket/prefix/`.",
    )
    ducklake_s3_endpoint: str | None = Field(
        None, description="An S3-compatible endpoint as host:port (unset: AWS S3)."
    )
    ducklake_s3_key_id: str | None = Field(None, description="The S3 access key id.")
    ducklake_s3_secret: SecretStr | None = Field(
        None, description="The S3 secret access key; never logged or stored."
    )
    ducklake_s3_region: str = Field("us-east-1", description="The S3 region.")
    ducklake_s3_use_ssl: bool = Field(
        True, description="HTTPS to the S3 endpoint (false: plain HTTP, loopback tests)."
    )
    ducklake_s3_url_style: Literal["vhost", "path"] = Field(
        "vhost", description="`path` for most S3-compatible servers (MinIO, moto), `vhost` for AWS."
    )
    ducklake_snapshot_retention_days: int = Field(
        7,
        ge=0,
        description="Days of lake snapshots kept for time travel; after each build older ones are expired and "
        "the files only they referenced deleted (deleted and retired rows leave storage then).",
    )
    ducklake_parallel_loads: int = Field(
        4,
        ge=1,
        description="Partition loads Dagster runs at once on the lake (its `interactions_loads` pool); each "
        "load shares MIXPEEK_REQUESTS_PER_SECOND, so size the two together.",
    )
    # The schedule.
    interactions_start_date: date = Field(
        date(2025, 1, 1), description="The first daily partition (backfills start here)."
    )
    interactions_nightly_cron: str = Field("0 2 * * *", description="When the nightly schedule ticks (UTC).")
    interactions_lookback_days: int = Field(
        2, ge=0, description="Days before yesterday the nightly run reloads, for late events."
    )
    interactions_freshness_deadline_utc: time = Field(
        time(6, 0),
        description="By then yesterday must be loaded and published (freshness policies, newest_day_loaded).",
    )
    interactions_max_run_seconds: int = Field(
        10_800,
        ge=0,
        description="A run longer than this is cancelled by the daemon (Dagster's run monitoring), loudly, "
        "freeing its pool: a run that hangs, or whose code server went away, would hold the queue for good; "
        "a CLI range gets this per day; 0: no limit.",
    )
    # Privacy.
    interactions_pseudonymise_key: SecretStr | None = Field(
        None,
        description="Land user ids as keyed hashes (keep the key secret and stable); unset: ids as sent.",
    )
    interactions_retention_days: int | None = Field(
        None, ge=1, description="Keep raw and staging rows for this many days (unset: keep everything)."
    )
    # Outputs.
    reports_dir: Path = Field(Path("reports"), description="Where the position-bias report is written.")
    interactions_reports_keep: int = Field(
        30,
        ge=1,
        description="Dated reports kept in the reports folder, newest first; older ones are deleted (latest.html "
        "and other files never are).",
    )
    dagster_home: Path = Field(
        Path(".dagster_home"),
        description="The Dagster instance the CLI, the demo and `python3 dev.py dagster` share (run history, "
        "queue, pool limit).",
    )

    @field_validator("warehouse_path", "published_warehouse_path")
    @classmethod
    def _not_a_schema_name(cls, value: Path | None) -> Path | None:
        # DuckDB names a file's database after its stem: `marts.duckdb` would make `marts.x` ambiguous.
        if value is not None and value.stem.lower() in WAREHOUSE_SCHEMAS:
            raise ValueError(
                f"a file named {value.stem!r} clashes with the warehouse's schema of that name; choose another name"
            )
        return value

    @field_validator("ducklake_catalog")
    @classmethod
    def _no_password_in_catalog(cls, value: str | None) -> str | None:
        if value is not None and re.search(r"(^|\s)password\s*=|://[^/@\s]*:[^/@\s]*@", value):
            raise ValueError("holds a password: put it in DUCKLAKE_CATALOG_PASSWORD, which is never shown")
        return value

    @model_validator(mode="after")
    def _lake_is_complete(self) -> Settings:
        if self.warehouse_backend == "ducklake":
            missing = [
                self.variable(f) for f in ("ducklake_catalog", "ducklake_data_path") if not getattr(self, f)
            ]
            if missing:
                verb = "are" if len(missing) > 1 else "is"
                raise ValueError(
                    f"WAREHOUSE_BACKEND is 'ducklake' but {' and '.join(missing)} {verb} not set"
                )
        return self

    @field_validator("warehouse_memory_limit")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value
        ):
            raise ValueError("a size DuckDB reads is needed, such as 4GB or 512MiB")
        return value

    @property
    def memory_limit(self) -> str:
        """WAREHOUSE_MEMORY_LIMIT, else half the memory this process can see (pipelines/memory.py)."""
        from interactions_etl.memory import default_memory_limit

        return (self.warehouse_memory_limit or "").replace(" ", "") or default_memory_limit()

    @field_validator("mixpeek_api_key", "mixpeek_namespace", "mixpeek_retriever_id")
    @classmethod
    def _sendable(cls, value: SecretStr | str | None, info: ValidationInfo) -> SecretStr | str | None:
        # Checked here too so the CLI refuses a stray character in one line before Dagster starts.
        variable = cls.variable(str(info.field_name))
        if isinstance(value, SecretStr):
            return SecretStr(sendable(variable, value.get_secret_value()))
        return None if value is None else sendable(variable, value)

    @field_validator("mixpeek_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @classmethod
    def defaults(cls) -> Settings:
        """The shipped defaults, whatever the environment holds (model_construct reads no source)."""
        return cls.model_construct()

    @staticmethod
    def variable(field: str) -> str:
        return field.upper()

    def dagster_secret(self, field: str, *, required: bool = False) -> Any:
        """A secret for a Dagster resource as Dagster's EnvVar: the run's stored configuration then holds the
        variable's name, never its value (a plain value lands in the run snapshot). Unset: None, or the EnvVar
        anyway when `required` (Dagster then fails the run naming the variable)."""
        from dagster import EnvVar

        return EnvVar(self.variable(field)) if required or getattr(self, field) is not None else None

    def secrets(self) -> list[str]:
        """Every secret value the settings hold: what the redaction at the edges replaces
        (pipelines/redaction.py)."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
        return [v.strip() for v in values if v.strip()]

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(variable, effective value, default, meaning) per setting, secrets masked; a default computed from
        the machine is shown as computed."""
        defaults = self.defaults()
        effective = {"warehouse_memory_limit": self.memory_limit}
        return [
            (
                self.variable(name),
                _shown(effective.get(name, getattr(self, name))),
                _shown(getattr(defaults, name)),
                info.description or "",
            )
            for name, info in type(self).model_fields.items()
        ]


def environment_secrets() -> list[str]:
    """The secrets the environment holds, read straight from it (as set, and stripped as the settings would
    take them), so the CLI can redact them even when the settings themselves do not parse."""
    values = []
    for name, info in Settings.model_fields.items():
        if "SecretStr" in str(info.annotation):
            raw = os.environ.get(Settings.variable(name))
            if raw:
                values += [raw, raw.strip()]
    # The emulator's keys (its own variable, `mixpeek-emulator serve`): one shell often sets them beside ours.
    keys = os.environ.get("MIXPEEK_EMULATOR_API_KEYS", "")
    values += [k.strip() for k in (keys.split("=", 1)[:1] if "=" in keys else keys.split(","))]
    return [v for v in values if v]


def _shown(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, SecretStr):
        return "********"  # set, and that is all anyone sees
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`, e.g. a --warehouse flag), or a SettingsError that
    names the first variable that does not parse."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # a rule across variables: its message names them
            raise SettingsError(error["msg"].removeprefix("Value error, ")) from None
        name = str(error["loc"][0])
        field = Settings.model_fields.get(name)
        secret = (field is not None and "SecretStr" in str(field.annotation)) or name in MAY_HOLD_A_SECRET
        value = error.get("input")
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith(f"{name.upper()} "):  # a message that names the variable, not its value
            raise SettingsError(message) from None
        shown = f" is {value!r}" if isinstance(value, str) and not secret else ""
        raise SettingsError(f"{name.upper()}{shown}: {message}") from None


def markdown_table(settings: Settings | None = None) -> str:
    """README's configuration table (`interactions config --markdown`)."""
    rows = (settings or Settings.defaults()).rows()
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {'`' + default + '`' if default != '(unset)' else default} | {meaning} |"
              for name, _, default, meaning in rows]  # fmt: skip
    return "\n".join(lines) + "\n"
