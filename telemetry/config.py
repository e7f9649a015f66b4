"""All settings in one pydantic-settings object, built at the edge and passed in.

Names are the contract's environment variables; the app also accepts the same
keys from ``.streamlit/secrets.toml`` (an environment variable wins).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .keys import DEFAULT_NAMESPACE
from .registry import DEFAULT_ENTITY_TYPES, EntityRegistry

DEFAULT_TTL_SECONDS = 1_209_600
DEFAULT_RUN_URL_TEMPLATE = "https://cloud.trigger.dev/runs/{run_id}"
DEFAULT_MAX_IDS = 100_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    redis_url: SecretStr | None = None
    redis_cluster: bool = False
    telemetry_namespace: str = DEFAULT_NAMESPACE
    telemetry_ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, gt=0)
    run_url_template: str = DEFAULT_RUN_URL_TEMPLATE
    runs_list_url_template: str | None = None
    auth_config_path: Path = Path(".streamlit/auth.yaml")
    auth_cookie_key: SecretStr | None = None
    auth_cookie_name: str = "run_lookup_auth"
    auth_cookie_expiry_days: float = Field(default=1.0, gt=0)
    # JSON object {"entity_type": ["prefix_", ...]}; unset = the contract's table.
    telemetry_entity_types: dict[str, list[str]] | None = None
    redis_connect_timeout: float = Field(default=2.0, gt=0)
    redis_socket_timeout: float = Field(default=5.0, gt=0)
    scan_max_keys: int = Field(default=1_000_000, gt=0)
    max_ids: int = Field(default=DEFAULT_MAX_IDS, gt=0)
    demo_records: int = Field(default=5_000, ge=0)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_url_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("redis", "rediss", "unix"):
                raise ValueError(
                    f"REDIS_URL must start with redis:// or rediss:// "
                    f"(got {parts.scheme or 'no'} scheme)"
                )
            try:
                parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
            except ValueError as exc:
                # The message quotes only the port, never the password.
                raise ValueError(f"REDIS_URL has a bad port: {exc}") from None
        return value

    @field_validator("telemetry_entity_types", mode="before")
    @classmethod
    def _entity_types_json(cls, value: Any) -> Any:
        # secrets.toml may hold the same JSON text as the environment variable.
        if isinstance(value, str | bytes):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ValueError(
                    'TELEMETRY_ENTITY_TYPES must be a JSON object like {"payment": ["pym_"]}'
                ) from None
        return value

    @field_validator("telemetry_entity_types")
    @classmethod
    def _check_entity_types(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        # Fail at load, naming the variable, not at the first lookup.
        if value is not None:
            try:
                EntityRegistry(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("telemetry_namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if not value or ":" in value:
            raise ValueError(f"TELEMETRY_NAMESPACE must be non-empty without ':' (got {value!r})")
        return value

    @field_validator("run_url_template")
    @classmethod
    def _check_run_template(cls, value: str) -> str:
        if "{run_id}" not in value:
            raise ValueError(f"RUN_URL_TEMPLATE must contain {{run_id}} (got {value!r})")
        return value

    @field_validator("runs_list_url_template")
    @classmethod
    def _check_list_template(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and "{run_ids}" not in value:
            raise ValueError(f"RUNS_LIST_URL_TEMPLATE must contain {{run_ids}} (got {value!r})")
        return value

    @classmethod
    def load(cls, secrets: Mapping[str, Any] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment, then ``secrets``, then ``overrides``.

        Raises ``ConfigError`` naming every bad setting.
        """
        values: dict[str, Any] = {}
        names = set(cls.model_fields)
        for key, value in (secrets or {}).items():
            name = key.lower()
            # Nested tables in secrets.toml (e.g. [auth]) are not settings, except
            # the one setting that is itself a table.
            if isinstance(value, Mapping) and name != "telemetry_entity_types":
                continue
            if name in names and key.upper() not in os.environ:
                values[name] = dict(value) if isinstance(value, Mapping) else value
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"Invalid configuration — {problems}") from None

    @property
    def demo(self) -> bool:
        """No REDIS_URL: an embedded fakeredis with generated data."""
        return self.redis_url is None

    @property
    def redacted_redis_url(self) -> str:
        if self.redis_url is None:
            return "demo (embedded fakeredis)"
        return redact_url(self.redis_url.get_secret_value())

    @cached_property
    def registry(self) -> EntityRegistry:
        return EntityRegistry(self.telemetry_entity_types or DEFAULT_ENTITY_TYPES)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (usernames are kept: they help)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
