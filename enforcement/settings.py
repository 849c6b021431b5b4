"""Settings from the environment (prefix ENFORCE_), with embedded defaults for `make run`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENFORCE_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{ROOT / 'var' / 'register.db'}",
                              description="SQLite file by default; postgresql://... for real")
    task_queue: str = "enforcement"
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "ENFORCE_TEMPORAL_ADDRESS"),
        description="unset: start the embedded dev server")
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE",
                                                         "ENFORCE_TEMPORAL_NAMESPACE"))
    dev_server_port: int = 7233
    dev_server_ui_port: int = 8233
    dev_server_db: Path = ROOT / "var" / "temporal.db"
    log_level: str = "INFO"
    log_json: bool = True
    activity_threads: int = 16


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
