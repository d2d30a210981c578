"""Every setting of interactions-etl, in one typed place: its environment variable, default and meaning.

The environment is read here and nowhere else (tests/test_settings.py checks it), once, at the edges: the
`interactions` command line and the Dagster definitions call `load_settings()` and pass what they read down.
Each field is read from the variable of the same name in capitals (`warehouse_path` from WAREHOUSE_PATH); an
empty variable counts as unset. `interactions config` prints the effective values with the secrets masked, and
README's configuration table is its `--markdown` output.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from interactions_etl.mixpeek.settings import DEFAULT_BASE_URL
from interactions_etl.warehouse import DEFAULT_LOCK_TIMEOUT_SECONDS, DEFAULT_WAREHOUSE_PATH


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
    mixpeek_emulator_api_keys: SecretStr | None = Field(
        None,
        description="Keys `interactions emulator` accepts, comma-separated, or one KEY=ns1,ns2 (else "
        "MIXPEEK_API_KEY).",
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

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(variable, effective value, default, meaning) per setting, secrets masked."""
        defaults = self.defaults()
        return [
            (
                self.variable(name),
                _shown(getattr(self, name)),
                _shown(getattr(defaults, name)),
                info.description or "",
            )
            for name, info in type(self).model_fields.items()
        ]


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
        name = str(error["loc"][0]) if error["loc"] else "?"
        field = Settings.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        value = error.get("input")
        shown = f" is {value!r}" if isinstance(value, str) and not secret else ""
        raise SettingsError(f"{name.upper()}{shown}: {error['msg']}") from None


def markdown_table(settings: Settings | None = None) -> str:
    """README's configuration table (`interactions config --markdown`)."""
    rows = (settings or Settings.defaults()).rows()
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {'`' + default + '`' if default != '(unset)' else default} | {meaning} |"
              for name, _, default, meaning in rows]  # fmt: skip
    return "\n".join(lines) + "\n"
