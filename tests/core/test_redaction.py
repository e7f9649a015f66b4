"""Security issue #12 item 8: no part of a Redis password ever reaches a message.

Passwords reach REDIS_URL as ``user:password@`` or ``?password=``, often with
characters that need percent-encoding (``#``, ``/``, ``?``, ``@``) typed raw.
``redact_url`` is the one place that hides them; these tests prove that it does
for every shape, and that the CLI and the sidebar show nothing else (no raw
redis-py or urllib error text quoting the URL, no traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import make_app, no_exception, tree_nodes, use_redis
from redis_server import RedisServer, free_port
from telemetry.config import Settings, redact_url
from telemetry.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zx7QjB"  # every test password starts with it and ends with TAIL
TAIL = "Vw9Kp"
READER_RULES = "-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"


def pieces(secret: str) -> list[str]:
    """Every substring of ``secret`` of 3 characters or more, lower-cased (DNS errors lower-case
    a host name, so a password misread as one comes back in lower case)."""
    return sorted(
        {
            secret[i:j].lower()
            for i in range(len(secret))
            for j in range(i + 3, len(secret) + 1)
            if secret[i:j].strip("%@#/?&=:-")  # separators alone are not the secret
        }
    )


def assert_hidden(secret: str, text: str) -> None:
    lowered = text.lower()
    leaked = [piece for piece in pieces(secret) if piece in lowered]
    assert not leaked, f"{leaked} of the password in: {text!r}"


# (url, the secret in it, what redact_url shows)
REDACTION_CASES = [
    ("redis://:Zx7QjB-Vw9Kp@h:6379/0", "Zx7QjB-Vw9Kp", "redis://:***@h:6379/0"),
    ("redis://user:Zx7QjB-Vw9Kp@h", "Zx7QjB-Vw9Kp", "redis://user:***@h"),
    ("redis://h:6379/0?password=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h:6379/0?password=***"),
    (
        "rediss://u@h/0?password=Zx7QjB-Vw9Kp&ssl_cert_reqs=none",
        "Zx7QjB-Vw9Kp",
        "rediss://u@h/0?password=***&ssl_cert_reqs=none",
    ),
    ("redis://h/0?PassWord=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h/0?PassWord=***"),
    ("redis://h/0?pass%77ord=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h/0?pass%77ord=***"),
    (
        "rediss://h/0?ssl_password=Zx7QjB-Vw9Kp&db=2",
        "Zx7QjB-Vw9Kp",
        "rediss://h/0?ssl_password=***&db=2",
    ),
    ("redis://h/0?token=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h/0?token=***"),
    ("redis://h/0?api_key=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h/0?api_key=***"),
    ("redis://h/0?client_secret=Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "redis://h/0?client_secret=***"),
    ("redis://:Zx7QjB#Vw9Kp@h:6379/0", "Zx7QjB#Vw9Kp", "redis://:***@h:6379/0"),
    ("redis://u:Zx7QjB/Vw9Kp@h:6379/0", "Zx7QjB/Vw9Kp", "redis://u:***@h:6379/0"),
    ("redis://:Zx7QjB?Vw9Kp@h:6379/0", "Zx7QjB?Vw9Kp", "redis://***"),
    ("redis://:Zx7QjB@Vw9Kp@h:6379/0", "Zx7QjB@Vw9Kp", "redis://:***@h:6379/0"),
    ("redis://:Zx7QjB%23Vw9Kp@h:6379/0", "Zx7QjB%23Vw9Kp", "redis://:***@h:6379/0"),
    ("redis://u:Zx7QjB:Vw9Kp@h:6379/0", "Zx7QjB:Vw9Kp", "redis://u:***@h:6379/0"),
    ("redis://u:Zx7QjB-ünï€-Vw9Kp@h/0", "Zx7QjB-ünï€-Vw9Kp", "redis://u:***@h/0"),
    ("redis://Zx7QjB#Vw9Kp@h/0", "Zx7QjB#Vw9Kp", "redis://***@h/0"),
    ("redis://u@Zx7QjB@h/0", "Zx7QjB", "redis://***@h/0"),
    ("redis://h/0?password=Zx7QjB#Vw9Kp", "Zx7QjB#Vw9Kp", "redis://h/0?password=***#***"),
    ("redis://h/0?password=Zx7QjB@Vw9Kp", "Zx7QjB@Vw9Kp", "redis://***"),
    (
        "redis://h/0?password=Zx7QjB&Vw9Kp=Qa4Lm",
        "Zx7QjB&Vw9Kp=Qa4Lm",
        "redis://h/0?password=***&***",
    ),
    ("redis://h:Zx7QjB-Vw9Kp/0", "Zx7QjB-Vw9Kp", "redis://h/0"),
    ("redis://:Zx7QjB-Vw9Kp@[::1:6379/0", "Zx7QjB-Vw9Kp", "redis://***"),
    ("redis://:Zx7QjB\nVw9Kp@h/0", "Zx7QjB\nVw9Kp", "redis://***"),
    ("Zx7QjB-Vw9Kp", "Zx7QjB-Vw9Kp", "***"),
    ("Zx7QjB:Vw9Kp@h:6379", "Zx7QjB:Vw9Kp", "***"),
]
REDACTION_IDS = [
    "userinfo-password",
    "user-and-password",
    "query-password",
    "query-password-then-option",
    "query-password-any-case",
    "query-password-percent-encoded-name",
    "query-ssl-password",
    "query-token",
    "query-key",
    "query-secret",
    "raw-hash",
    "raw-slash",
    "raw-question-mark",
    "raw-at",
    "percent-encoded-hash",
    "colon",
    "unicode",
    "raw-hash-no-colon",
    "at-in-user",
    "raw-hash-in-query-password",
    "raw-at-in-query-password",
    "raw-ampersand-in-query-password",
    "password-in-port-position",
    "unparseable-ipv6",
    "line-break",
    "no-scheme",
    "no-scheme-userinfo",
]


@pytest.mark.parametrize(("url", "secret", "expected"), REDACTION_CASES, ids=REDACTION_IDS)
def test_redact_url_hides_every_part_of_the_password(url: str, secret: str, expected: str) -> None:
    """redact_url shows the URL's shape and no 3-character piece of its password."""
    redacted = redact_url(url)
    assert redacted == expected
    assert_hidden(secret, redacted)


@pytest.mark.parametrize(("url", "secret", "expected"), REDACTION_CASES, ids=REDACTION_IDS)
def test_settings_never_show_the_password(url: str, secret: str, expected: str) -> None:
    """Loading REDIS_URL either works and shows the redacted URL, or fails naming it redacted."""
    try:
        settings = Settings.load(redis_url=url)
    except ConfigError as exc:
        message = str(exc)
        assert "REDIS_URL" in message
        assert "\n" not in message
    else:
        message = settings.redacted_redis_url
        assert message == expected
    assert_hidden(secret, message)


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("redis://:Zx7QjB#Vw9Kp@h:6379/0", "%23"),
        ("redis://:Zx7QjB/Vw9Kp@h:6379/0", "%2F"),
        ("redis://:Zx7QjB?Vw9Kp@h:6379/0", "%3F"),
        ("redis://Zx7QjB#Vw9Kp@h:6379/0", "%23"),
        ("redis://h:6379/0?password=Zx7QjB#Vw9Kp", "%23"),
        ("redis://h:6379/0?password=Zx7QjB&Vw9Kp=Qa4Lm", "%26"),
        ("redis://u:Zx7QjB-Vw9Kp@h:port/0", "percent-encode"),
        ("redis://u:Zx7QjB-Vw9Kp@h:99999/0", "percent-encode"),
        ("redis://u:Zx7QjB-Vw9Kp@[::1/0", "[brackets]"),
        ("redis://u:Zx7QjB-Vw9Kp@h/0?db=zero", "?db="),
        ("redis://u:Zx7QjB-Vw9Kp@h/0?sockettimeout=5", "?sockettimeout="),
        ("REDIS://u:Zx7QjB-Vw9Kp@h/0", "redis://"),
        ("Zx7QjB-Vw9Kp", "redis://"),
    ],
    ids=[
        "raw-hash",
        "raw-slash",
        "raw-question-mark",
        "raw-hash-no-colon",
        "raw-hash-in-query",
        "raw-ampersand-in-query",
        "port-not-a-number",
        "port-out-of-range",
        "bad-ipv6",
        "bad-option-value",
        "unknown-option",
        "upper-case-scheme",
        "no-scheme",
    ],
)
def test_malformed_url_is_a_config_error_naming_the_fix(url: str, fix: str) -> None:
    """A URL redis-py would misread or reject fails at load with our message: what is wrong,
    how to fix it, the URL redacted, and none of urllib's or redis-py's own words."""
    with pytest.raises(ConfigError) as info:
        Settings.load(redis_url=url)
    message = str(info.value)
    assert fix in message
    assert "REDIS_URL" in message
    for foreign in ("could not be cast", "invalid literal", "Invalid value for", "Port out of"):
        assert foreign not in message
    assert_hidden(SECRET + "-" + TAIL, message)
    assert_hidden("Zx7QjB", message)


# -- the CLI, run as an attacker would see it ------------------------------------------------


def _cli(args: list[str], env_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if env_url is not None:
        env["REDIS_URL"] = env_url
    return subprocess.run(
        [sys.executable, "-m", "telemetry", *args],
        cwd=ROOT,
        env=env,
        input="pym_1\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _bad_urls(port: int) -> list[tuple[str, str, str]]:
    """(url, its password, what the one-line error says) for a closed port on 127.0.0.1."""
    return [
        (
            f"redis://127.0.0.1:{port}/0?password=Zx7QjB-Vw9Kp",
            "Zx7QjB-Vw9Kp",
            "Cannot reach Redis",
        ),
        (f"redis://:Zx7QjB#Vw9Kp@127.0.0.1:{port}/0", "Zx7QjB#Vw9Kp", "%23"),
        (f"redis://app:Zx7QjB/Vw9Kp@127.0.0.1:{port}/0", "Zx7QjB/Vw9Kp", "%2F"),
        (f"redis://Zx7QjB#Vw9Kp@127.0.0.1:{port}/0", "Zx7QjB#Vw9Kp", "%23"),
        (f"redis://127.0.0.1:{port}/0?password=Zx7QjB#Vw9Kp", "Zx7QjB#Vw9Kp", "%23"),
        (f"redis://127.0.0.1:{port}/0?password=Zx7QjB&Vw9Kp=Qa4Lm", "Zx7QjB&Vw9Kp=Qa4Lm", "%26"),
    ]


BAD_URL_IDS = [
    "query-password-closed-port",
    "raw-hash",
    "raw-slash",
    "raw-hash-no-colon",
    "raw-hash-in-query",
    "raw-ampersand-in-query",
]


@pytest.mark.parametrize("case", range(len(BAD_URL_IDS)), ids=BAD_URL_IDS)
@pytest.mark.parametrize("command", ["resolve", "summary"])
@pytest.mark.parametrize("source", ["flag", "env"], ids=["--redis-url", "REDIS_URL"])
def test_cli_error_never_shows_the_password(case: int, command: str, source: str) -> None:
    """`python -m telemetry resolve|summary` with a bad REDIS_URL: exit 2, one line on stderr,
    no traceback, the fix named, and no piece of the password on stdout or stderr."""
    url, secret, says = _bad_urls(free_port())[case]
    args = [command, "--redis-url", url] if source == "flag" else [command]
    proc = _cli(args, None if source == "flag" else url)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert says in proc.stderr
    assert_hidden(secret, proc.stdout + proc.stderr)


# -- the sidebar -------------------------------------------------------------------------------


def assert_page_hides(at: AppTest, secret: str) -> None:
    """No element of the page (main area, sidebar, any block) holds a piece of ``secret``."""
    texts = [str(getattr(node, "proto", "")) for node in tree_nodes(at)]
    texts += [str(getattr(node, "value", "")) for node in tree_nodes(at) if hasattr(node, "value")]
    assert len(texts) > 3  # the walk reached the elements
    assert_hidden(secret, "\n".join(texts))


@pytest.mark.parametrize(
    ("url_template", "secret", "says"),
    [
        (
            "redis://127.0.0.1:{port}/0?password=Zx7QjB-Vw9Kp",
            "Zx7QjB-Vw9Kp",
            "?password=***",
        ),
        ("redis://:Zx7QjB#Vw9Kp@127.0.0.1:{port}/0", "Zx7QjB#Vw9Kp", "%23"),
        ("redis://u:Zx7QjB/Vw9Kp@127.0.0.1:{port}/0", "Zx7QjB/Vw9Kp", "%2F"),
    ],
    ids=["query-password-closed-port", "raw-hash", "raw-slash"],
)
def test_app_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url_template: str, secret: str, says: str
) -> None:
    """Redis down or REDIS_URL malformed: the app explains it, and no element shows the
    password."""
    use_redis(monkeypatch, tmp_path, url_template.format(port=free_port()))
    at = make_app()
    no_exception(at)
    assert says in "\n".join(str(e.value) for e in at.error) + "\n".join(
        str(e.value) for e in at.sidebar.markdown
    )
    assert_page_hides(at, secret)


def test_sidebar_connected_with_query_password_hides_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_server: RedisServer, redis_client: Any
) -> None:
    """Signed in to a real Redis with ``?password=``: the sidebar shows the URL with
    ``password=***`` and no element shows the password."""
    password = "Zx7QjB-Sb4r-Vw9Kp"
    redis_server.add_acl_user("runlookup", password, READER_RULES)
    url = f"redis://runlookup@127.0.0.1:{redis_server.port}/0?password={password}"
    use_redis(monkeypatch, tmp_path, url)
    at = make_app()
    no_exception(at)
    sidebar = "\n".join(str(e.value) for e in at.sidebar.markdown)
    assert "connected" in sidebar
    assert f"redis://runlookup@127.0.0.1:{redis_server.port}/0?password=***" in sidebar
    assert_page_hides(at, password)


@pytest.mark.parametrize("cluster", [False, True], ids=["single", "cluster"])
@pytest.mark.parametrize(
    "raised",
    [
        ValueError("Port could not be cast to integer value as 'Zx7QjB'"),
        TypeError("AbstractConnection.__init__() got an unexpected keyword argument 'Zx7QjB'"),
    ],
    ids=["urllib-value-error", "redis-py-type-error"],
)
def test_redis_py_url_errors_are_never_shown_raw(
    monkeypatch: pytest.MonkeyPatch, cluster: bool, raised: Exception
) -> None:
    """Whatever redis-py's from_url still rejects becomes our ConfigError (the URL redacted,
    the fix named), never its own words, which may quote the password."""
    import redis
    from redis.cluster import RedisCluster

    from telemetry.store import connect

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(RedisCluster if cluster else redis.Redis, "from_url", refuse)
    settings = Settings.load(redis_url="redis://app:Zx7QjB@127.0.0.1:1/0", redis_cluster=cluster)
    with pytest.raises(ConfigError) as info:
        connect(settings)
    message = str(info.value)
    assert "redis://app:***@127.0.0.1:1/0" in message
    assert "%23" in message
    assert_hidden("Zx7QjB", message)
