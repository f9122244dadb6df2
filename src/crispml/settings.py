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

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite database inside home."""
        return self.database_url or f"sqlite:///{self.home / 'crispml.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "artifacts"
