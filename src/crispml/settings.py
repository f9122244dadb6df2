"""Settings, read once in the composition root (never at import time)."""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    job_workers: int = 2
    mlflow_model: str = "fraud"
    warm_up_models: int = Field(default=8, ge=0, le=1000)
    """How many aliased model versions (the most recently set first) a server reads into memory
    before it takes requests; 0: none, each is then read by its first score request."""

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
