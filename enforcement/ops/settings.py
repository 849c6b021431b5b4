"""Settings from the environment (prefix ENFORCE_), with embedded defaults for `make run`."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENFORCE_", extra="ignore",
                                      hide_input_in_errors=True)

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
    metrics_address: str | None = Field(default=None, description="host:port of the worker's "
                                        "Prometheus endpoint (/metrics); unset: no metrics")
    metrics_interval_seconds: float = Field(default=15.0, gt=0, description="how often the "
                                            "cases-by-stage gauge reads the register")

    # Email (activities/mail.py). Without smtp_host notifications are only recorded.
    smtp_host: str | None = Field(default=None, description="unset: record notifications only")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="upgrade with STARTTLS (required "
                                "when true); false: plain SMTP, for a relay on localhost")
    smtp_tls: bool = Field(default=False, description="implicit TLS from the first byte "
                           "(port 465) instead of STARTTLS")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_cert_bundle: Path | None = Field(default=None, description="CA file to verify the "
                                          "SMTP server's certificate (default: system CAs)")
    smtp_timeout_seconds: float = Field(default=20.0, gt=0, le=25,
                                        description="per SMTP exchange; under the activity's "
                                        "30 s timeout")
    mail_from: str = "Enforcement engine <enforcement@localhost>"
    case_handler_email: str | None = Field(default=None, max_length=254,
                                           pattern=r"^[^@\s]+@[^@\s]+$")
    case_handler_emails: dict[str, str] = Field(
        default_factory=dict, description="JSON: the case handler address of each procedure "
        "(the weekly digest and the case handler's notifications); others: "
        "case_handler_email")
    # The weekly digest (enforcement/ops/digest.py), started by a Temporal Schedule.
    digest_schedule: bool = Field(default=True, description="create the weekly digest's "
                                  "schedule at start-up when absent")
    digest_timezone: str = Field(default="Europe/Paris", description="the digest's clock")
    digest_weekday: int = Field(default=1, ge=1, le=7, description="1: Monday")
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_assumptions: Path | None = Field(default=None, description="the forecast's "
                                            "assumptions (default: the shipped example)")

    # Webhooks (activities/webhooks.py): CloudEvents signed per Standard Webhooks.
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="JSON list or comma-separated http(s) URLs")
    webhook_secret: SecretStr | None = Field(default=None, description="whsec_<base64>")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_source: str = Field(default="/enforcement-engine",
                                description="CloudEvents `source` of every event")

    # HTTP API (enforcement.interfaces.api) and `make run` (enforcement.ops.run)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_tokens: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='bearer token -> grant, as JSON: {"<token>": {"role": "regulator"}, '
        '"<token>": {"role": "controller", "controller": "Clearview AI Inc."}}; roles: '
        "regulator, controller, viewer")
    api_tokens_file: Path = Field(
        default=ROOT / "var" / "api-tokens.json",
        description="read when ENFORCE_API_TOKENS is unset; `make run` creates it with one "
        "token per role on the embedded dev server")

    @field_validator("webhook_urls", "codec_server_cors_origins", mode="before")
    @classmethod
    def _list(cls, v: object) -> object:
        """A list from the environment: a JSON list or comma-separated values."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [u.strip() for u in text.split(",") if u.strip()]
        return v

    @field_validator("webhook_urls")
    @classmethod
    def _http(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL {url!r} is not http(s)")
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            webhook_key(v.get_secret_value())
        return v

    @model_validator(mode="after")
    def _signed(self) -> Settings:
        if self.webhook_urls and self.webhook_secret is None:
            raise ValueError("webhook_urls needs webhook_secret (whsec_<base64>): webhooks "
                             "are always signed")
        return self

    def controller_secret(self) -> bytes:
        """The key of the controllers' keyed hashes (the ControllerKey search attribute):
        ENFORCE_CONTROLLER_KEY, else the file beside the register, created at first use
        (owner-only). Every process that opens or lists cases must use the same one."""
        if self.controller_key is not None:
            return self.controller_key.get_secret_value().encode()
        path = self.controller_key_file
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32))
        return path.read_bytes().strip()

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def webhooks_configured(self) -> bool:
        return bool(self.webhook_urls)

    # Listing a controller's cases by a keyed hash of its name (enforcement/ops/temporal.py)
    controller_key: SecretStr | None = Field(
        default=None, description="the key of the controllers' keyed hashes; unset: "
        "ENFORCE_CONTROLLER_KEY_FILE, created at first use")
    controller_key_file: Path = ROOT / "var" / "controller-key"

    # Payload encryption (enforcement/privacy/codec.py) and its codec server
    # (enforcement/privacy/codec_server.py)
    encryption_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='key id -> base64 of a 32-byte AES-256 key, as JSON: {"2026-01": "<b64>"}; '
        "every key listed decrypts, so keep retired keys while histories written with them "
        "live; empty: payloads are not encrypted. Checked by enforcement.privacy.codec.KeyRing, "
        "whose errors name the key id, never the key")
    encryption_key_id: str | None = Field(
        default=None, description="the id of the key that encrypts new payloads; may be "
        "omitted when ENFORCE_ENCRYPTION_KEYS holds a single key")
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(default=8081, ge=1, le=65535)
    codec_server_token: SecretStr | None = Field(
        default=None, description="bearer token every /encode and /decode call must carry; "
        "the codec server refuses to start without it")
    codec_server_oidc_issuer: str | None = Field(
        default=None, description="the single sign-on provider whose access tokens the codec "
        "server accepts (the Temporal UI forwards the signed-in user's): its issuer URL; keys "
        "from its OpenID discovery document, or ENFORCE_CODEC_SERVER_OIDC_JWKS_URL")
    codec_server_oidc_audience: str | None = Field(
        default=None, description="the `aud` those tokens must carry (required with the issuer)")
    codec_server_oidc_jwks_url: str | None = Field(
        default=None, description="the provider's JWKS URL, when discovery is not wanted")
    codec_server_oidc_group: str | None = Field(
        default=None, description="when set, a token's `groups` or `roles` claim must hold it: "
        "only those people may read case data")
    codec_server_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:8080", "http://127.0.0.1:8080",
                                 "http://localhost:8233", "http://127.0.0.1:8233"],
        description="origins of the Temporal UI allowed to call the codec server: JSON list "
        "or comma-separated")

    @property
    def encryption_configured(self) -> bool:
        return bool(self.encryption_keys)


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret `whsec_<base64>`."""
    if not secret.startswith("whsec_"):
        raise ValueError("the webhook secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must look like whsec_<base64>") from None
    if len(key) < 16:
        raise ValueError("the webhook secret must hold at least 16 bytes (whsec_<base64>)")
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
