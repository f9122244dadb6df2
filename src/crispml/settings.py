"""Settings, read once in the composition root (never at import time)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crispml.contract.promotion import ChallengerPolicy, PromotionGates, PromotionTarget
from crispml.errors import InvalidInput

_DATABASE_SCHEMES = ("sqlite", "postgresql")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


class Settings(BaseSettings):
    """Where crispml keeps its state, and who is acting."""

    model_config = SettingsConfigDict(env_prefix="CRISPML_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".crispml")
    database_url: str | None = None
    user: str = Field(default_factory=_default_user)

    data_dir: Path | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
    reference_source: Path | None = None
    job_workers: int = Field(default=2, ge=1)
    mlflow_model: str = "fraud"
    warm_up_models: int = Field(default=8, ge=0, le=1000)
    """How many aliased model versions (the most recently set first) a server reads into memory
    before it takes requests; 0: none, each is then read by its first score request."""
    require_keys: bool = False
    """Whether HTTP requests need an API key (`Authorization: Bearer ...`). `crispml serve` turns it on
    for any host but loopback; off, every request acts as `user` with the admin role."""
    source_timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    """Statement timeout of a query on a registered data source (seconds)."""
    max_wait_s: float = Field(default=60.0, gt=0, le=3600)
    """The longest a long-poll (`wait=true&timeout=`) is held before the job is answered as it stands (202)."""
    max_source_bytes: int = Field(default=2 * 1024**3, ge=1)
    """The most a zip or gzip source (or a Parquet file) may expand to, checked while it is read."""
    max_source_rows: int = Field(default=50_000_000, ge=1)
    """The most rows a source may hold."""
    job_time_limits: dict[str, float] = Field(default_factory=dict)
    """Seconds a job may run, by kind, over the defaults (ingest 1 h, train 4 h, score 1 h, pipeline 6 h), as JSON:
    CRISPML_JOB_TIME_LIMITS='{"train": 600}'. A job past its limit ends failed, TimedOut, storing nothing."""

    @field_validator("job_time_limits")
    @classmethod
    def _positive_limits(cls, limits: dict[str, float]) -> dict[str, float]:
        bad = [kind for kind, seconds in limits.items() if not 0 < seconds < float("inf")]
        if bad:
            raise ValueError(f"the time limit of {bad[0]!r} jobs must be a positive number of seconds")
        return limits

    pseudonym_key_file: Path | None = None
    """A file holding the pseudonymization secret (preferred over `pseudonym_key`); never stored."""
    pseudonym_key: SecretStr | None = None

    def read_pseudonym_key(self) -> bytes | None:
        """The pseudonymization secret, read when needed: the file's bytes (trailing newline dropped),
        else the environment's; None when neither is set."""
        if self.pseudonym_key_file is not None:
            return _read_secret_file(self.pseudonym_key_file, "pseudonym key", "CRISPML_PSEUDONYM_KEY_FILE")
        if self.pseudonym_key is not None and self.pseudonym_key.get_secret_value():
            return self.pseudonym_key.get_secret_value().encode()
        return None

    encryption_key: SecretStr | None = None
    """Base64 of 32 bytes: dataset and model files are written encrypted (AES-256-GCM) under it."""
    encryption_key_file: Path | None = None
    """A file of such keys, one a line: the first encrypts, every one decrypts (for rotation)."""
    allowed_hosts: str = ""
    """Host names the server answers to besides loopback and its own address (comma-separated; `*`: any)."""
    allowed_origins: str = ""
    """Web origins besides the server's own whose pages may call it, e.g. https://console.example (`*`: any)."""

    # -- Metrics (issue 13): GET /metrics, see crispml.observability.metrics ----------------------
    metrics_enabled: bool = True
    """Whether the server times requests, counts perf records and group commits for `GET /metrics`
    (CRISPML_METRICS_ENABLED); off, /metrics answers 404 and those per-request observations cost nothing."""

    # -- InfluxDB exporter (issue 13): perf records as line protocol, see crispml.observability.influx --
    influx_url: str | None = None
    """An InfluxDB to send every perf record to, e.g. http://127.0.0.1:8086; unset: none is sent."""
    influx_database: str = Field(default="crispml", min_length=1)
    """The InfluxDB 1.x database written to (`/write?db=`); it must exist."""
    influx_bucket: str | None = None
    """An InfluxDB 2.x bucket: set, records go to `/api/v2/write` (with `influx_org`) instead of a database."""
    influx_org: str | None = Field(default=None, validate_default=True)
    """The InfluxDB 2.x organization the bucket belongs to."""
    influx_token_file: Path | None = None
    """A file holding the InfluxDB token, sent as `Authorization: Token ...` (2.x; 1.x ignores it unless
    its authentication is on). Read at start-up, never logged or shown."""
    influx_measurement: str = Field(default="crispml_perf", pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$")
    """The measurement the points are written to."""
    influx_batch_size: int = Field(default=5_000, ge=1, le=100_000)
    """Records written in one request; a batch this size is sent without waiting for the interval. InfluxDB
    advises 5,000 lines a write; a write costs the process about 1 ms of CPU whatever its size (under the
    GIL the requests need), which is 2 us a point in writes of 500 and 0.35 us in writes of 5,000."""
    influx_flush_s: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between writes of what waits (and before a failing InfluxDB is tried again)."""
    influx_buffer_size: int = Field(default=10_000, ge=1, le=10_000_000)
    """Records held while InfluxDB is slow or away; beyond, new ones are dropped and counted."""
    influx_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """How long one write may take before it counts as failed (it is retried twice, then dropped)."""

    @field_validator("influx_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("the InfluxDB URL must start with http:// or https://, e.g. http://127.0.0.1:8086")
        return url or None

    @field_validator("influx_org")
    @classmethod
    def _org_of_bucket(cls, org: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("influx_bucket") and not org:
            raise ValueError("an InfluxDB 2 bucket needs its organization (CRISPML_INFLUX_ORG)")
        return org

    def read_influx_token(self) -> str | None:
        """The InfluxDB token from `influx_token_file`, read when the exporter starts; None without one."""
        if self.influx_token_file is None:
            return None
        token = _read_secret_file(self.influx_token_file, "InfluxDB token", "CRISPML_INFLUX_TOKEN_FILE")
        if not all(0x21 <= byte <= 0x7E for byte in token):
            raise InvalidInput(f"the InfluxDB token file {self.influx_token_file} holds more than one line of "
                               "visible ASCII characters", field="CRISPML_INFLUX_TOKEN_FILE")  # fmt: skip
        return token.decode()

    # --- Job workers (issue 15: workers that scale apart from the API), see crispml.services.worker ---
    job_runner: Literal["inprocess", "workers"] = "inprocess"
    """Who runs jobs (train, ingest, dataset scoring, pipelines): "inprocess", the API process that queued
    them (on its `job_workers` threads); "workers", `crispml worker` processes that claim them from the
    database (the API only queues them)."""
    job_lease_s: float = Field(default=30.0, ge=1.0, le=3600.0)
    """Seconds a worker's claim on a job lasts unless renewed (it renews every third of it): a job whose
    worker stopped renewing is requeued once, then ended interrupted."""

    # --- Deployment (issue 15: image, Kubernetes) ---
    migrate_on_start: bool = True
    """Whether a process brings the database schema to the newest migration when it starts. Off where
    `crispml db upgrade` runs once before the processes start (the Kubernetes migration Job): they then refuse
    to start on an older schema instead of racing each other to migrate it."""

    # --- Environments and the fallback model (issue 15: fallback) ---
    environment: Literal["dev", "qa", "prod"] = "dev"
    """Which environment this deployment is (dev, qa or prod): `/readyz` shows it. Scoring falls back to a
    model name's `fallback` alias in every environment alike (see `crispml.services.model_refs`)."""

    # --- logs (issue 13: Logs; see crispml.observability.logs) ---
    log_format: Literal["json", "text"] = "json"
    """How a server writes its log lines: one JSON object per line, or a readable text line."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """The lowest level written (crispml's loggers and any other's; uvicorn's own follow `--log-level`)."""
    log_file: Path | None = None
    """A file that receives the same lines as stdout, rotated when it reaches `log_file_max_bytes`."""
    log_file_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    """The size at which the log file is rotated (renamed to .1, .2, ...)."""
    log_file_backups: int = Field(default=5, ge=1, le=1000)
    """Rotated log files kept beside the current one."""
    access_log: bool = True
    """Whether every HTTP request writes an access line (method, route, status, duration, request id)."""
    observability_writer: Literal["process", "thread"] = "process"
    """Where log lines (of a server or worker) and InfluxDB points (of any process) are formatted and
    written: a child process of each process (the default: off the interpreter the requests run on), or a
    thread of it."""

    # --- The fallback's KPI floor (issue 15: fallback), see crispml.services.kpi_floor ---
    fallback_kpi: Literal["roc_auc", "pr_auc", "precision", "recall", "f1"] | None = None
    """The realized KPI an aliased version must keep at or over `fallback_floor`, else its name's `fallback`
    alias answers for it (None, the default: no floor)."""
    fallback_floor: float = Field(default=0.5, ge=0.0, le=1.0)
    """The floor of `fallback_kpi`."""
    fallback_frames: int = Field(default=3, ge=1, le=10_000)
    """Over how many of a version's last frames holding labels its realized KPI is worked out."""
    fallback_min_labels: int = Field(default=50, ge=1)
    """Labels those frames must hold before the floor judges them (fewer: the version keeps answering)."""
    fallback_check_s: float = Field(default=60.0, ge=1.0, le=86_400.0)
    """How often a server works the realized KPIs out again (besides after each label import it serves),
    so that labels imported and aliases moved by other processes reach it."""
    # --- Retraining triggers and webhooks (issue 16: retraining that triggers itself) ---
    retrain_check_interval_s: float = Field(default=300.0, ge=0, le=86400)
    """How often a server checks the retraining policies (`crispml retrain check` does it once); 0: never."""
    webhook_poll_s: float = Field(default=1.0, gt=0, le=3600)
    """How often a server sends the webhook deliveries that are due."""
    webhook_max_attempts: int = Field(default=5, ge=1, le=100)
    """Attempts of one delivery before it is recorded as failed."""
    webhook_backoff_s: float = Field(default=2.0, gt=0, le=3600)
    """The delay before the first retry; each later retry waits twice as long as the one before."""
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Seconds a target may take to answer one delivery."""

    # --- The shared data pool (issue 15: environments), see crispml.services.pool ---
    pool_home: Path | None = None
    """The home of the crispml store every environment reads datasets from (its artifact folder, and its
    SQLite database unless `pool_database_url` names one); None: no pool."""
    pool_database_url: str | None = None
    """The pool store's database (postgresql+psycopg://... or sqlite:///...); default: the SQLite one in `pool_home`."""
    pool_filter: str = ""
    """This environment's GDPR filter on the way in from the pool, action by column tag, as a JSON object:
    CRISPML_POOL_FILTER='{"personal": "pseudonymize", "sensitive": "drop", "quasi": "generalize"}'
    (actions keep, drop, pseudonymize, generalize); empty: datasets are read as the pool holds them. Its
    tags and actions are checked when the pool is read (`crispml.steps.pool_filter.parse_filter`)."""

    @field_validator("pool_filter")
    @classmethod
    def _pool_filter_object(cls, text: str) -> str:
        # Kept as text (pydantic-settings' own JSON decoding of a dict setting fails with a traceback).
        try:
            rules = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
            raise ValueError('give a JSON object of tag to action, e.g. {"personal": "pseudonymize"}')
        return text

    @property
    def pool_rules(self) -> dict[str, str]:
        """`pool_filter` as a mapping of tag to action (empty: no filter)."""
        return dict(json.loads(self.pool_filter)) if self.pool_filter.strip() else {}

    pool_k: int = Field(default=5, ge=2, le=10_000)
    """The k of the k-anonymity a `generalize` filter reaches."""

    # --- Challengers (issue 16: shadow and canary; see crispml.services.challengers) ---
    shadow_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """The share of score requests on name@champion that name@challenger also scores in the shadow, after
    the answer (0: none, 1: every one); chosen by the first record's id."""
    canary_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """The share of score requests on name@champion that name@challenger answers instead (a canary),
    chosen by the first record's id so that a record always goes the same way."""

    # --- Promotion between environments (issue 15: promotion; see crispml.services.promotion) ---
    promotion_key: SecretStr | None = None
    """The secret every environment shares to sign (HMAC-SHA256) and check promotion bundles; without it
    this deployment neither exports nor imports. Any long random text, e.g. `secrets.token_hex(32)`."""
    promotion_targets: dict[str, PromotionTarget] = Field(default_factory=dict)
    """Where `crispml promote REF --to NAME` sends bundles, as JSON:
    CRISPML_PROMOTION_TARGETS='{"qa": {"url": "https://crispml-qa", "api_key": "..."}}'."""
    promotion_gates: PromotionGates | None = None
    """What a version promoted into THIS environment must show before its alias moves, as JSON:
    CRISPML_PROMOTION_GATES='{"dataset": "ccf", "frames": "7-12", "min_roc_auc": 0.9, "max_drop": 0.02,
    "min_labelled": 500}'. None: no gates, the alias moves once the bundle checks out."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, level: object) -> object:
        return level.strip().upper() if isinstance(level, str) else level

    @field_validator("database_url", "pool_database_url")
    @classmethod
    def _supported_database(cls, url: str | None) -> str | None:
        scheme = (url or "").partition("://")[0].partition("+")[0]
        if url and scheme not in _DATABASE_SCHEMES:
            # Only the scheme is named: the rest of the URL may hold a password.
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}: use sqlite:///path or postgresql+psycopg://host/db"
            )
        return url

    @property
    def resolved_data_dir(self) -> Path:
        """Server-side files the REST API may ingest must lie in here (uploads land here too)."""
        return (self.data_dir or self.home / "data").resolve()

    @property
    def resolved_reference_source(self) -> Path:
        """The file the reference's repDataIngest reads; synthesized on first use when absent."""
        return self.reference_source or self.resolved_data_dir / "creditcard.csv"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite database inside home."""
        return self.database_url or f"sqlite:///{self.home / 'crispml.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "artifacts"

    # -- Monitoring: drift (issue 16) ---------------------------------------------------------------
    monitor_psi_warning: float = Field(default=0.1, gt=0)
    """Population stability index at which a feature (or the score) drifts enough to warn."""
    monitor_psi_alarm: float = Field(default=0.25, gt=0)
    """Population stability index at which a feature (or the score) raises the alarm."""
    monitor_missing_warning: float = Field(default=0.05, gt=0, le=1)
    """Change of a feature's missing-value rate (against training) that warns."""
    monitor_missing_alarm: float = Field(default=0.2, gt=0, le=1)
    """Change of a feature's missing-value rate (against training) that raises the alarm."""
    monitor_ignored: tuple[str, ...] = ("Time",)
    """Features measured but never judged: the reference's Time counts seconds from the first transaction,
    so every later frame lies past the training range and would always raise the alarm."""
    input_log: bool = True
    """Keep the inputs of records scored online (Parquet under `home/input-log`) for drift monitoring."""
    input_log_retention_h: float = Field(default=30 * 24, gt=0)
    """Hours an hourly partition of the input log is kept before the flusher deletes it."""
    input_log_flush_s: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between two writes of the input log's buffer to Parquet."""
    input_log_buffer_rows: int = Field(default=200_000, ge=1, le=100_000_000)
    """Records the input log holds in memory between writes; beyond that records are dropped (counted)."""

    # -- scheduled monitoring (issue 16, i16-triggers) ------------------------------------------------------
    monitor_refresh_interval_s: float = Field(default=300.0, ge=0, le=86400)
    """How often a server refreshes the drift and estimate metrics of every champion alias; 0: never."""
    monitor_refresh_window: str = Field(default="1h", pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$")
    """The records a refresh looks at: those scored (online for drift; any unlabelled for estimates) this
    long back, like 1h, 30m or 1d."""

    @property
    def input_log_root(self) -> Path:
        """The input log's folder: one folder per model version, one per hour below it."""
        return self.home / "input-log"

    # --- Challenger promotion policy (issue 16; see crispml.services.challenger_policy) ---
    challenger_policy: ChallengerPolicy | None = None
    """When THIS environment's challenger replaces its champion, as JSON:
    CRISPML_CHALLENGER_POLICY='{"min_labelled": 500, "margin": 0.01, "significance": 0.05, "mode": "auto"}'
    (mode auto or propose). Checked by `crispml challenger check` and the server's retraining loop; None:
    challengers are never promoted by a policy."""


def _read_secret_file(path: Path, what: str, setting: str) -> bytes:
    """A secret's bytes from its file (trailing newline dropped); InvalidInput names the setting, never the secret."""
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} file {path}: {exc.strerror}", field=setting) from None
    if not secret:
        raise InvalidInput(f"the {what} file {path} is empty", field=setting)
    return secret


def settings_error(exc: ValidationError) -> InvalidInput:
    """One line naming the first bad setting by its environment variable, e.g. CRISPML_JOB_WORKERS."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    name = "CRISPML_" + "_".join(str(part) for part in first["loc"]).upper()
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidInput(f"setting {name}: {message}", field=name)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `overrides`); InvalidInput names a bad one in one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise settings_error(exc) from None
