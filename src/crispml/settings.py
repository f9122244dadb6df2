"""Settings, read once in the composition root (never at import time)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    """Seconds a job may run, by kind, over the defaults (ingest 1 h, train 4 h, score 1 h), as JSON:
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
            try:
                key = self.pseudonym_key_file.read_bytes().rstrip(b"\r\n")
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read the pseudonym key file {self.pseudonym_key_file}: {exc.strerror}",
                    field="CRISPML_PSEUDONYM_KEY_FILE",
                ) from None
            if not key:
                raise InvalidInput(f"the pseudonym key file {self.pseudonym_key_file} is empty",
                                   field="CRISPML_PSEUDONYM_KEY_FILE")  # fmt: skip
            return key
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, level: object) -> object:
        return level.strip().upper() if isinstance(level, str) else level

    @field_validator("database_url")
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
