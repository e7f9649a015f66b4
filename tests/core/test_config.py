"""Settings (contract §4): environment names, secrets, precedence, validation, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.config import (
    DEFAULT_RUN_URL_TEMPLATE,
    DEFAULT_TRIGGER_API_URL,
    DEFAULT_TTL_SECONDS,
    Settings,
    redact_url,
)
from telemetry.errors import ConfigError
from telemetry.registry import EntityRegistry

PASSWORD = "s3cr3t-P4ss"
COOKIE = "cookie-signing-key-XYZ"


def test_defaults_match_the_contract() -> None:
    """With nothing set: demo mode, namespace telemetry, 14-day TTL, the default run URL."""
    settings = Settings.load()
    assert settings.redis_url is None
    assert settings.demo is True
    assert settings.redis_cluster is False
    assert settings.telemetry_namespace == "telemetry"
    assert settings.telemetry_ttl_seconds == DEFAULT_TTL_SECONDS == 1_209_600
    assert settings.run_url_template == DEFAULT_RUN_URL_TEMPLATE
    assert DEFAULT_RUN_URL_TEMPLATE == "https://cloud.trigger.dev/runs/{run_id}"
    assert settings.runs_list_url_template is None
    assert settings.auth_config_path == Path(".streamlit/auth.yaml")
    assert settings.auth_cookie_key is None
    assert settings.registry == EntityRegistry()
    assert settings.redacted_redis_url == "demo (embedded fakeredis)"


CONTRACT_ENV = {
    "REDIS_URL": f"rediss://default:{PASSWORD}@eu1-upstash.io:6379",
    "REDIS_CLUSTER": "1",
    "TELEMETRY_NAMESPACE": "prod_tel",
    "TELEMETRY_TTL_SECONDS": "86400",
    "RUN_URL_TEMPLATE": "https://trigger.example/orgs/O/projects/P/env/prod/runs/{run_id}",
    "RUNS_LIST_URL_TEMPLATE": "https://trigger.example/orgs/O/projects/P/env/prod/runs?{run_ids}",
    "AUTH_CONFIG_PATH": "/etc/run-lookup/auth.yaml",
    "AUTH_COOKIE_KEY": COOKIE,
}


def _check_contract_values(settings: Settings) -> None:
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == CONTRACT_ENV["REDIS_URL"]
    assert settings.demo is False
    assert settings.redis_cluster is True
    assert settings.telemetry_namespace == "prod_tel"
    assert settings.telemetry_ttl_seconds == 86400
    assert settings.run_url_template == CONTRACT_ENV["RUN_URL_TEMPLATE"]
    assert settings.runs_list_url_template == CONTRACT_ENV["RUNS_LIST_URL_TEMPLATE"]
    assert settings.auth_config_path == Path("/etc/run-lookup/auth.yaml")
    assert settings.auth_cookie_key is not None
    assert settings.auth_cookie_key.get_secret_value() == COOKIE


def test_every_contract_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each §4 variable, set in the environment, lands in its setting."""
    for name, value in CONTRACT_ENV.items():
        monkeypatch.setenv(name, value)
    _check_contract_values(Settings.load())


def test_every_contract_name_is_read_from_secrets() -> None:
    """The same names as keys of a secrets mapping (secrets.toml) give the same settings."""
    _check_contract_values(Settings.load(dict(CONTRACT_ENV)))


def test_secrets_keys_are_case_insensitive_and_nested_tables_ignored() -> None:
    """Lower-case secret keys work; nested tables (e.g. [auth]) and unknown keys are ignored."""
    settings = Settings.load(
        {
            "telemetry_namespace": "lower",
            "auth": {"cookie": {"key": "x"}},
            "SOMETHING_ELSE": "ignored",
        }
    )
    assert settings.telemetry_namespace == "lower"


def test_environment_wins_over_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set in the environment beats the same key in secrets; others come from secrets."""
    monkeypatch.setenv("TELEMETRY_NAMESPACE", "from_env")
    settings = Settings.load({"TELEMETRY_NAMESPACE": "from_secrets", "TELEMETRY_TTL_SECONDS": 60})
    assert settings.telemetry_namespace == "from_env"
    assert settings.telemetry_ttl_seconds == 60


def test_explicit_override_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An override (the CLI's --redis-url) beats REDIS_URL; a None override is ignored."""
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/0")
    assert Settings.load(redis_url=None).redis_url.get_secret_value() == "redis://env-host:6379/0"  # type: ignore[union-attr]
    settings = Settings.load(redis_url="redis://cli-host:6380/1")
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://cli-host:6380/1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("0", False), ("false", False)],
    ids=["one", "true", "zero", "false"],
)
def test_redis_cluster_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    """REDIS_CLUSTER accepts 1/0 (and true/false)."""
    monkeypatch.setenv("REDIS_CLUSTER", value)
    assert Settings.load().redis_cluster is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", ""),
        ("REDIS_URL", "   "),
        ("RUNS_LIST_URL_TEMPLATE", ""),
        ("RUNS_LIST_URL_TEMPLATE", " "),
    ],
    ids=["redis-url-empty", "redis-url-blank", "list-template-empty", "list-template-blank"],
)
def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """An empty REDIS_URL is demo mode and an empty runs-list template is no template."""
    monkeypatch.setenv(name, value)
    settings = Settings.load()
    assert settings.redis_url is None
    assert settings.runs_list_url_template is None


@pytest.mark.parametrize(
    ("name", "value", "message_part"),
    [
        (
            "REDIS_URL",
            "http://localhost:6379",
            "REDIS_URL: Value error, REDIS_URL must start with redis://",
        ),
        ("REDIS_URL", "localhost:6379", "REDIS_URL"),
        ("REDIS_URL", f"redis://u:{PASSWORD}@host:notaport/0", "REDIS_URL has a bad port"),
        ("REDIS_URL", f"redis://u:{PASSWORD}@host:99999/0", "REDIS_URL has a bad port"),
        ("REDIS_CLUSTER", "maybe", "REDIS_CLUSTER"),
        ("TELEMETRY_NAMESPACE", "a:b", "TELEMETRY_NAMESPACE must be non-empty without ':'"),
        ("TELEMETRY_TTL_SECONDS", "two weeks", "TELEMETRY_TTL_SECONDS"),
        ("TELEMETRY_TTL_SECONDS", "0", "TELEMETRY_TTL_SECONDS"),
        ("TELEMETRY_TTL_SECONDS", "-5", "TELEMETRY_TTL_SECONDS"),
        (
            "RUN_URL_TEMPLATE",
            "https://cloud.trigger.dev/runs/",
            "RUN_URL_TEMPLATE must contain {run_id}",
        ),
        (
            "RUNS_LIST_URL_TEMPLATE",
            "https://x/runs",
            "RUNS_LIST_URL_TEMPLATE must contain {run_ids}",
        ),
        ("TELEMETRY_ENTITY_TYPES", "not json", "TELEMETRY_ENTITY_TYPES"),
        ("TELEMETRY_ENTITY_TYPES", '["payment"]', "TELEMETRY_ENTITY_TYPES"),
        ("TELEMETRY_ENTITY_TYPES", '{"Payment": ["pym_"]}', "TELEMETRY_ENTITY_TYPES"),
        ("TELEMETRY_ENTITY_TYPES", '{"a": ["x_"], "b": ["x_"]}', "TELEMETRY_ENTITY_TYPES"),
        ("TELEMETRY_ENTITY_TYPES", "{}", "TELEMETRY_ENTITY_TYPES"),
        ("SCAN_MAX_KEYS", "0", "SCAN_MAX_KEYS"),
        ("MAX_IDS", "lots", "MAX_IDS"),
    ],
    ids=[
        "redis-url-http",
        "redis-url-no-scheme",
        "redis-url-bad-port",
        "redis-url-port-out-of-range",
        "cluster-not-bool",
        "namespace-colon",
        "ttl-not-int",
        "ttl-zero",
        "ttl-negative",
        "run-template-no-placeholder",
        "list-template-no-placeholder",
        "entity-types-not-json",
        "entity-types-not-object",
        "entity-types-bad-name",
        "entity-types-shared-prefix",
        "entity-types-empty",
        "scan-max-keys-zero",
        "max-ids-not-int",
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message_part: str
) -> None:
    """A bad setting raises ConfigError at load naming the variable, never the password."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings.load()
    message = str(info.value)
    assert message.startswith("Invalid configuration — ")
    assert message_part in message
    assert f"{name}:" in message
    assert PASSWORD not in message


def test_every_bad_setting_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several bad settings are reported together in one ConfigError."""
    monkeypatch.setenv("TELEMETRY_TTL_SECONDS", "x")
    monkeypatch.setenv("TELEMETRY_NAMESPACE", "")
    monkeypatch.setenv("RUN_URL_TEMPLATE", "https://x/")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    message = str(info.value)
    for name in ("TELEMETRY_TTL_SECONDS:", "TELEMETRY_NAMESPACE:", "RUN_URL_TEMPLATE:"):
        assert name in message


def test_bad_value_in_secrets_is_named_too() -> None:
    """A bad value from secrets.toml raises ConfigError naming the key."""
    with pytest.raises(ConfigError, match="TELEMETRY_TTL_SECONDS"):
        Settings.load({"TELEMETRY_TTL_SECONDS": "fortnight"})


@pytest.mark.parametrize(
    "source",
    ["env", "secrets-json-string", "secrets-table"],
    ids=["env", "secrets-json-string", "secrets-table"],
)
def test_entity_types_configurable(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """TELEMETRY_ENTITY_TYPES replaces the registry: env JSON, secrets JSON string or TOML table."""
    table = {"payment": ["pym_", "pay_"], "bill": ["bill_"], "billing_run": ["billing_run_"]}
    json_text = '{"payment": ["pym_", "pay_"], "bill": ["bill_"], "billing_run": ["billing_run_"]}'
    if source == "env":
        monkeypatch.setenv("TELEMETRY_ENTITY_TYPES", json_text)
        settings = Settings.load()
    elif source == "secrets-json-string":
        settings = Settings.load({"TELEMETRY_ENTITY_TYPES": json_text})
    else:
        settings = Settings.load({"TELEMETRY_ENTITY_TYPES": table})
    assert settings.registry.as_dict() == table
    assert settings.registry.match("billing_run_x") == "billing_run"
    assert settings.registry.match("pay_x") == "payment"


def test_secrets_never_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis password and the cookie key appear in no repr, str or dump of the settings."""
    monkeypatch.setenv("REDIS_URL", f"redis://admin:{PASSWORD}@db.internal:6379/0")
    monkeypatch.setenv("AUTH_COOKIE_KEY", COOKIE)
    settings = Settings.load()
    texts = [
        repr(settings),
        str(settings),
        repr(settings.redis_url),
        str(settings.redis_url),
        repr(settings.auth_cookie_key),
        str(settings.model_dump()),
        settings.model_dump_json(),
        settings.redacted_redis_url,
    ]
    for text in texts:
        assert PASSWORD not in text
        assert COOKIE not in text
    assert settings.redacted_redis_url == "redis://admin:***@db.internal:6379/0"


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after load (they are passed around, never mutated)."""
    settings = Settings.load()
    with pytest.raises(Exception, match="frozen"):
        settings.telemetry_namespace = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://user:pw@localhost:6379/0", "redis://user:***@localhost:6379/0"),
        ("redis://user@localhost:6379", "redis://user@localhost:6379"),
        ("redis://user:@localhost", "redis://user:***@localhost"),
        (
            f"rediss://default:{PASSWORD}@eu1-fine-cat-123.upstash.io:6379",
            "rediss://default:***@eu1-fine-cat-123.upstash.io:6379",
        ),
        ("rediss://default:p%40ss%3Aw@host", "rediss://default:***@host"),
        ("redis://u:p@ss@host:1/2", "redis://u:***@host:1/2"),
        ("redis://u:pw@[::1]:6380/3", "redis://u:***@[::1]:6380/3"),
        ("redis://u:pw@[2001:db8::7]/0", "redis://u:***@[2001:db8::7]/0"),
        ("redis://[::1]:6379", "redis://[::1]:6379"),
        (
            "redis://u:pw@host:6379/0?ssl_cert_reqs=none",
            "redis://u:***@host:6379/0?ssl_cert_reqs=none",
        ),
        ("redis://u:pw@host:notaport/0", "redis://u:***@host/0"),
        ("unix://:pw@/tmp/redis.sock?db=1", "unix://:***@/tmp/redis.sock?db=1"),
        ("redis://u:pw@[::1/0", "redis://***"),
    ],
    ids=[
        "no-credentials",
        "password-only",
        "user-and-password",
        "user-only",
        "empty-password",
        "rediss-upstash",
        "encoded-password",
        "at-in-password",
        "ipv6-loopback",
        "ipv6-no-port",
        "ipv6-no-credentials",
        "query-kept",
        "bad-port-dropped",
        "unix-socket",
        "unparseable",
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """redact_url replaces the password with *** and keeps user, host, port, path and query."""
    redacted = redact_url(url)
    assert redacted == expected
    assert PASSWORD not in redacted
    assert ":pw@" not in redacted


def test_redacted_redis_url_of_loaded_settings() -> None:
    """Settings.redacted_redis_url is the redacted form of REDIS_URL."""
    settings = Settings.load(redis_url=f"rediss://:{PASSWORD}@[::1]:6390/0")
    assert settings.redacted_redis_url == "rediss://:***@[::1]:6390/0"


TRIGGER_KEY = "tr_prod_S3cr3tTr1ggerKey"


def test_trigger_settings_default_to_feature_off() -> None:
    """Without TRIGGER_SECRET_KEY run state is off; the API URL defaults to api.trigger.dev."""
    settings = Settings.load()
    assert settings.trigger_secret_key is None
    assert settings.trigger_api_url == DEFAULT_TRIGGER_API_URL == "https://api.trigger.dev"


@pytest.mark.parametrize(
    ("source", "url", "expected_url"),
    [
        ("env", "https://trigger.internal:3030/", "https://trigger.internal:3030"),
        ("env", " http://localhost:3030 ", "http://localhost:3030"),
        ("secrets", "https://trigger.example/api-root", "https://trigger.example/api-root"),
        ("env", "", DEFAULT_TRIGGER_API_URL),
    ],
    ids=["env-trailing-slash", "env-http-padded", "secrets-with-path", "env-blank-is-default"],
)
def test_trigger_settings_are_read(
    monkeypatch: pytest.MonkeyPatch, source: str, url: str, expected_url: str
) -> None:
    """TRIGGER_SECRET_KEY and TRIGGER_API_URL come from the environment or secrets, trimmed."""
    values = {"TRIGGER_SECRET_KEY": f"{TRIGGER_KEY}\n", "TRIGGER_API_URL": url}
    if source == "env":
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings = Settings.load()
    else:
        settings = Settings.load(values)
    assert settings.trigger_secret_key is not None
    assert settings.trigger_secret_key.get_secret_value() == TRIGGER_KEY
    assert settings.trigger_api_url == expected_url


def test_blank_trigger_key_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty or blank TRIGGER_SECRET_KEY leaves the feature off, not a key of spaces."""
    monkeypatch.setenv("TRIGGER_SECRET_KEY", "  \n")
    assert Settings.load().trigger_secret_key is None


@pytest.mark.parametrize(
    "url",
    [
        "api.trigger.dev",
        "ftp://api.trigger.dev",
        "redis://api.trigger.dev",
        f"https://user:{TRIGGER_KEY}@api.trigger.dev",
        f"https://api.trigger.dev/?key={TRIGGER_KEY}",
        "https://api.trigger.dev:notaport",
        "https://",
        "https://api.trigger.dev/\nx",
    ],
    ids=[
        "no-scheme",
        "ftp",
        "redis",
        "credentials",
        "query",
        "bad-port",
        "no-host",
        "line-break",
    ],
)
def test_bad_trigger_api_url_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """A TRIGGER_API_URL that is not a plain http(s) URL is a ConfigError; no key is quoted."""
    monkeypatch.setenv("TRIGGER_API_URL", url)
    with pytest.raises(ConfigError) as info:
        Settings.load()
    message = str(info.value)
    assert "TRIGGER_API_URL: Value error, TRIGGER_API_URL must be an http(s) URL" in message
    assert TRIGGER_KEY not in message


@pytest.mark.parametrize(
    "key",
    [f"{TRIGGER_KEY} extra", f"tr_prod_\u00e9{TRIGGER_KEY}", f"{TRIGGER_KEY}\x00"],
    ids=["inner-space", "non-ascii", "control"],
)
def test_trigger_key_that_no_header_can_carry_is_named(key: str) -> None:
    """A TRIGGER_SECRET_KEY with a space, control or non-ASCII character fails at load, unquoted."""
    with pytest.raises(ConfigError) as info:
        Settings.load({"TRIGGER_SECRET_KEY": key})
    message = str(info.value)
    assert "TRIGGER_SECRET_KEY: Value error, TRIGGER_SECRET_KEY holds a space" in message
    assert TRIGGER_KEY not in message


def test_trigger_key_never_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger.dev secret key appears in no repr, str or dump of the settings."""
    monkeypatch.setenv("TRIGGER_SECRET_KEY", TRIGGER_KEY)
    settings = Settings.load()
    for text in (
        repr(settings),
        str(settings),
        repr(settings.trigger_secret_key),
        str(settings.model_dump()),
        settings.model_dump_json(),
    ):
        assert TRIGGER_KEY not in text
