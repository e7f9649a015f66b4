"""All settings in one pydantic-settings object, built at the edge and passed in.

Names are the contract's environment variables; the app also accepts the same
keys from ``.streamlit/secrets.toml`` (an environment variable wins).
"""

import functools
import inspect
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import orjson
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError
from .keys import DEFAULT_NAMESPACE
from .registry import DEFAULT_ENTITY_TYPES, EntityRegistry

DEFAULT_TTL_SECONDS = 1_209_600
DEFAULT_RUN_URL_TEMPLATE = "https://cloud.trigger.dev/runs/{run_id}"
DEFAULT_MAX_IDS = 100_000
DEFAULT_TRIGGER_API_URL = "https://api.trigger.dev"


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
    # trigger.dev run state (contract §6): unset key = the feature is off.
    trigger_secret_key: SecretStr | None = None
    trigger_api_url: str = DEFAULT_TRIGGER_API_URL
    # CSV organization_id,name: names beside organization IDs (issue #16); unset = IDs only.
    org_names_path: Path | None = None

    @field_validator("org_names_path", mode="before")
    @classmethod
    def _blank_path_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("redis_url", "trigger_secret_key", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            # A pasted URL or key often ends in a newline (and redis-py would reject a
            # leading space with its own words); blank means unset. Never quoted back.
            return value.strip() or None
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = redis_url_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("trigger_secret_key")
    @classmethod
    def _check_trigger_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = trigger_key_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("trigger_api_url", mode="before")
    @classmethod
    def _check_trigger_api_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_TRIGGER_API_URL
        if not isinstance(value, str):
            return value
        url = value.strip()
        shown = redact_url(url)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
            or _has_control(url)
        ):
            raise ValueError(
                "TRIGGER_API_URL must be an http(s) URL of the API without credentials, "
                f"query or fragment, like https://api.trigger.dev (got {shown})"
            )
        return url.rstrip("/")

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
    def load(cls, secrets: Mapping[str, Any] | None = None, **overrides: Any) -> "Settings":
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


# The schemes redis-py's ``from_url`` accepts, spelled as it compares them (case matters).
REDIS_SCHEMES = ("redis", "rediss", "unix")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# A query option whose name holds one of these carries (or may carry) a credential.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cred")
# After a credential option, only these are shown: a raw & inside a password makes
# its tail look like one more option, and that tail must stay hidden.
_PLAIN_OPTIONS = frozenset(
    {
        "db",
        "username",
        "client_name",
        "protocol",
        "timeout",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "retry_on_timeout",
        "health_check_interval",
        "max_connections",
        "decode_responses",
        "encoding",
        "ssl_cert_reqs",
        "ssl_check_hostname",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_min_version",
    }
)
PERCENT_ENCODINGS = "(# as %23, / as %2F, ? as %3F, @ as %40)"
PERCENT_ENCODE_HINT = f"percent-encode # / ? @ in the password {PERCENT_ENCODINGS}"


def _has_control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _is_secret_name(name: str) -> bool:
    plain = unquote_plus(name).lower()
    return any(word in plain for word in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """``url`` safe to show: not one character of a password survives.

    ``***`` replaces the password of ``user:password@``, the value of every
    query option named like a credential (``password``, ``ssl_password``,
    ``token``, ...), whatever follows a raw ``#``, and any option after a
    credential option except well-known redis-py ones. The user name, host,
    numeric port, path and other options stay: they are what one checks when
    a connection fails.

    Written against the raw text, not ``urlsplit``: a raw ``#``, ``/`` or ``?``
    inside a password makes urllib end the host there, so its parse would put
    the start of the password in the host or port. Here everything before the
    *last* ``@`` is user and password, as whoever typed the URL meant it; when
    that cannot be told (a ``?`` before the last ``@``: a password in the user
    part or in the query?), or the URL makes no sense, only ``scheme://***``.
    """
    match = _SCHEME_RE.match(url)
    if match is None:
        return "***"  # no scheme: maybe a bare password, or user:password@host
    masked = f"{match.group(1)}://***"
    if _has_control(url):
        return masked  # urllib silently drops tabs and line breaks: the parse would lie
    userinfo, at, rest = url[match.end() :].rpartition("@")
    prefix = ""
    if at:
        if "?" in userinfo:
            return masked
        user, colon, _ = userinfo.partition(":")
        if any(char in user for char in "@/#"):
            prefix = "***@"  # not a user name: a password typed without its ':'
        else:
            prefix = f"{user}:***@" if colon else f"{user}@"
    rest, hash_, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    slash = rest.find("/")
    hostport, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if hostport.startswith("["):
        end = hostport.find("]") + 1
        if not end:
            return masked
        host, port = hostport[:end], hostport[end:].removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    # A port that is not a number may be a password typed in its place.
    netloc = prefix + host + (f":{port}" if port.isascii() and port.isdigit() else "")
    redacted = f"{match.group(1)}://{netloc}{path}"
    if question:
        redacted += "?" + _redact_query(query)
    if hash_:
        redacted += "#***" if fragment else "#"
    try:
        urlsplit(redacted)
    except ValueError:  # e.g. an IPv6 host without its closing bracket
        return masked
    return redacted


def _redact_query(query: str) -> str:
    shown: list[str] = []
    after_secret = False
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        if _is_secret_name(name):
            shown.append(f"{name}=***" if equals else name)
            after_secret = True
        elif after_secret and pair and unquote_plus(name) not in _PLAIN_OPTIONS:
            shown.append("***")
        else:
            shown.append(pair)
    return "&".join(shown)


def trigger_key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as TRIGGER_SECRET_KEY, or None; never quotes the key.

    An HTTP header carries it: a space, control or non-ASCII character would
    make the request fail with an encoding error instead of a message.
    """
    if not key:
        return "TRIGGER_SECRET_KEY is empty — set the environment's secret key (tr_prod_…)"
    if not key.isascii() or any(char.isspace() or not char.isprintable() for char in key):
        return (
            "TRIGGER_SECRET_KEY holds a space, line break or non-ASCII character — copy the "
            "key again from the trigger.dev dashboard (API keys page)"
        )
    return None


def redis_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as REDIS_URL, in words fit for a user, or None.

    Catches, before redis-py sees the URL, what it would reject with errors
    of its own (which quote parts of the URL, password included, or surface
    as a traceback at the first command), and what urllib would silently
    misread: a raw ``#``, ``/`` or ``?`` in a password ends the host there,
    so the password's start becomes the host or the port. Every message
    names the fix and shows the URL only redacted.
    """
    shown = redact_url(url)
    if _has_control(url):
        return (
            "REDIS_URL holds a line break, tab or other control character — remove it "
            f"(got {shown})"
        )
    match = _SCHEME_RE.match(url)
    if match is None or match.group(1) not in REDIS_SCHEMES:
        # Only the scheme is quoted: without one the value may be a bare password.
        got = f"{match.group(1)} scheme" if match else "no scheme"
        if match and match.group(1).lower() in REDIS_SCHEMES:
            got += ": write it in lower case"
        return f"REDIS_URL must start with redis:// or rediss:// (got {got})"
    userinfo, at, _ = url[match.end() :].rpartition("@")
    if at and any(char in userinfo for char in "#/?"):
        return (
            "REDIS_URL's user name or password holds a raw # / or ?, so the URL would be cut "
            "there and part of the password read as the host — percent-encode them "
            f"{PERCENT_ENCODINGS} (got {shown})"
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        return (
            "REDIS_URL's host is not a valid address — write an IPv6 address in [brackets], "
            f"and {PERCENT_ENCODE_HINT} (got {shown})"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return (
            "REDIS_URL has a bad port: the port after host: must be a number from 0 to "
            "65535 — if the password holds # / ? or @, percent-encode them "
            f"{PERCENT_ENCODINGS} (got {shown})"
        )
    if "#" in url:
        return (
            "REDIS_URL holds a raw # (urllib and redis-py drop everything after it, so a "
            f"password holding one is cut short) — percent-encode it as %23 (got {shown})"
        )
    return _options_problem(match.group(1), parts.query, shown)


def _options_problem(scheme: str, query: str, shown: str) -> str | None:
    # redis-py makes each query option a keyword argument: a bad value raises its
    # own ValueError in from_url, an unknown name a TypeError at the first
    # command (a traceback naming the option, maybe a piece of a password).
    from redis import connection

    parsers = getattr(connection, "URL_QUERY_ARGUMENT_PARSERS", {})
    accepted = _accepted_options(scheme)
    after_secret = False
    for pair in query.split("&"):
        raw_name, _, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if not value:
            continue  # redis-py (parse_qs) drops options without a value
        if _is_secret_name(raw_name):
            after_secret = True
        elif name in parsers:
            try:
                parsers[name](value)
            except (TypeError, ValueError):
                return (
                    f"REDIS_URL's ?{name}= option has a value redis-py does not accept — "
                    f"fix it (e.g. ?db=0, ?socket_timeout=5, ?ssl_check_hostname=true) "
                    f"(got {shown})"
                )
        elif accepted and name not in accepted:
            if after_secret or _has_control(name):
                return (
                    "REDIS_URL holds an option redis-py does not accept after a password "
                    "option (not named: it may be a piece of the password) — if the password "
                    f"holds & or =, percent-encode them (& as %26, = as %3D) (got {shown})"
                )
            return (
                f"REDIS_URL holds an option redis-py does not accept: ?{raw_name}= — remove "
                f"it or fix its spelling (got {shown})"
            )
    return None


@functools.cache
def _accepted_options(scheme: str) -> frozenset[str]:
    """The query options ``from_url`` passes on without a TypeError for ``scheme``.

    Read from redis-py's own signatures (pool and connection class), so a new
    redis-py option is accepted without a change here; empty (refuse nothing)
    if those signatures no longer tell.
    """
    from redis import connection

    kind = {"redis": "Connection", "rediss": "SSLConnection"}.get(
        scheme, "UnixDomainSocketConnection"
    )
    names = set(getattr(connection, "URL_QUERY_ARGUMENT_PARSERS", {}))
    classes = [*getattr(getattr(connection, kind, None), "__mro__", ())]
    classes += [*getattr(getattr(connection, "ConnectionPool", None), "__mro__", ())]
    for klass in classes:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return frozenset()
        names.update(
            param.name
            for param in params
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        )
    names.discard("self")
    return frozenset(names) if {"db", "username", "password"} <= names else frozenset()
