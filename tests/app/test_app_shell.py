"""AppTest: what every page shares — gate, sidebar, demo mode, Redis down, retry, config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from streamlit.testing.v1 import AppTest

from apptest_support import (
    APP,
    NEUTRAL_SECRETS,
    TIMEOUT,
    make_app,
    no_exception,
    page_text,
    put,
    raw_text,
    shown,
    use_demo,
    use_redis,
)
from redis_server import RedisServer, free_port
from telemetry import connect
from ui import context
from ui.format import ago, expires_text, md_code, md_escape, span, ttl_text

PAGES = ("pages/lookup.py", "pages/bulk.py", "pages/summary.py")
TITLES = {
    "pages/lookup.py": "Lookup",
    "pages/bulk.py": "Bulk resolve",
    "pages/summary.py": "Summary",
}
READER_RULES = "-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.sidebar if hasattr(e, "value"))


@pytest.mark.parametrize("page", PAGES)
def test_demo_mode_renders_every_page_with_banner(
    monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """No REDIS_URL: each page renders on generated data with the demo banner, no traceback."""
    use_demo(monkeypatch)
    at = make_app(page=page)
    no_exception(at)
    assert titles(at) == [TITLES[page]]
    assert "Demo mode" in page_text(at)
    assert "Demo data" in page_text(at)


@pytest.mark.parametrize("page", PAGES)
def test_redis_down_shows_redacted_url_and_retry_on_every_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str
) -> None:
    """Unreachable Redis: an error naming the redacted URL and a Retry button, no traceback,
    and never demo data instead."""
    url = f"redis://reader:s3cret@127.0.0.1:{free_port()}/0"
    use_redis(monkeypatch, tmp_path, url)
    at = make_app(page=page)
    no_exception(at)
    errors = "\n".join(shown(e.value) for e in at.error)
    assert "Cannot reach Redis" in errors
    assert url.replace("s3cret", "***") in errors
    assert "s3cret" not in raw_text(at)
    assert any(b.label == "Retry" for b in at.button)
    assert "unreachable" in page_text(at)
    assert "Demo" not in page_text(at)
    assert TITLES[page] not in titles(at)  # the page itself does not run


def test_retry_reconnects_once_redis_is_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_redis_server: RedisServer
) -> None:
    """Retry after an outage drops the cached client, reconnects, and the page works again."""
    use_redis(monkeypatch, tmp_path, fresh_redis_server.url)
    made: list[Any] = []

    def counting(settings: Any) -> Any:
        made.append(connect(settings))
        return made[-1]

    monkeypatch.setattr(context, "client_factory", counting)
    put(fresh_redis_server.client(), "payment", "pym_r1", "run_r1")
    fresh_redis_server.stop()
    at = make_app(query={"id": "pym_r1"})
    no_exception(at)
    assert "Cannot reach Redis" in page_text(at)
    fresh_redis_server.start()  # same port, empty
    put(fresh_redis_server.client(), "payment", "pym_r1", "run_r1")
    next(b for b in at.button if b.label == "Retry").click().run()
    no_exception(at)
    assert not at.error
    assert [b.proto.url for b in at.link_button] == ["https://cloud.trigger.dev/runs/run_r1"]
    assert len(made) == 2  # one client before the outage, a new one after Retry


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_visitor_gets_the_login_and_no_redis_access(
    monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """Not signed in, even on a deep link opened first: the login form, and no Redis client."""
    use_demo(monkeypatch)
    calls: list[Any] = []
    monkeypatch.setattr(context, "client_factory", lambda settings: calls.append(settings))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets = dict(NEUTRAL_SECRETS)
    at.switch_page(page)  # before the first run: Streamlit's legacy pages/ mode
    at.run()
    no_exception(at)
    assert any(b.label == "Sign in" for b in at.button)
    assert TITLES[page] not in titles(at)
    assert not at.metric and not at.dataframe
    assert calls == []


def test_deep_link_opened_first_renders_inside_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page opened directly (legacy pages/ mode) still gets app.py's gate and sidebar."""
    use_demo(monkeypatch)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets = dict(NEUTRAL_SECRETS)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "demo"
    at.session_state["name"] = "Demo user"
    at.switch_page("pages/summary.py")
    at.run()
    no_exception(at)
    assert titles(at) == ["Summary"]
    assert "Demo data" in sidebar_text(at)
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_least_privilege_user_with_password_runs_every_page(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> None:
    """A read-only ACL user (GET MGET SCAN PTTL TTL TYPE PING) is enough for every page;
    the sidebar shows the URL with the password redacted, the PING time and the namespace."""
    put(redis_client, "payment", "pym_acl1", "run_acl1")
    url = redis_server.add_acl_user("runlookup", "pw-Very-Secret", READER_RULES)
    use_redis(monkeypatch, tmp_path, url)
    at = make_app(query={"id": "pym_acl1"})
    no_exception(at)
    assert [b.proto.url for b in at.link_button] == ["https://cloud.trigger.dev/runs/run_acl1"]
    side = sidebar_text(at)
    assert f"redis://runlookup:***@127.0.0.1:{redis_server.port}/0" in side
    assert "PING" in side and "ms" in side
    assert "namespace `telemetry`" in side
    assert "Signed in as **Tester** (tester)" in side
    assert "pw-Very-Secret" not in raw_text(at)
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exception(at)
        assert not at.error


def test_invalid_setting_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed setting stops the app with a message naming it."""
    use_demo(monkeypatch)
    monkeypatch.setenv("TELEMETRY_NAMESPACE", "bad:namespace")
    at = make_app()
    no_exception(at)
    assert "TELEMETRY_NAMESPACE" in "\n".join(shown(e.value) for e in at.error)
    assert not at.text_input


def test_settings_come_from_secrets_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys of .streamlit/secrets.toml configure the app like environment variables."""
    use_demo(monkeypatch)
    at = make_app(secrets={"TELEMETRY_NAMESPACE": "custom_ns"})
    no_exception(at)
    assert "namespace `custom_ns`" in sidebar_text(at)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "{}"), ("A = 1\n", "{'A': 1}"), ('REDIS_URL = "unterminated\n', "ConfigError")],
    ids=["no file", "a file", "a broken file"],
)
def test_no_secrets_file_is_normal_and_a_broken_one_is_a_config_error(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    """Streamlit raises the same FileNotFoundError for both; ``read_secrets`` tells them apart
    (in a process of its own: Streamlit reads its secrets once per process)."""
    if content is not None:
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "secrets.toml").write_text(content)
    script = (
        "from ui import context\n"
        "try:\n    print(repr(context.read_secrets()))\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(APP.parent)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == expected


def test_markdown_helpers_neutralise_record_data() -> None:
    """md_escape/md_code keep untrusted text literal: no HTML, links, emphasis or directives."""
    assert md_escape("<b>**x**</b> [a](javascript:1) :red[y] $z$") == (
        "\\<b\\>\\*\\*x\\*\\*\\<\\/b\\> \\[a\\]\\(javascript\\:1\\) \\:red\\[y\\] \\$z\\$"
    )
    assert md_escape("line\nbreak") == "line break"
    assert md_code("pym_1") == "`pym_1`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"


def test_time_phrases() -> None:
    """Relative times read like "3 h ago", "expires in 13 d"; the TTL like "14 d"."""
    from datetime import UTC, datetime

    now = 1_800_000_000.0
    at = datetime.fromtimestamp(now - 3 * 3600 - 5, tz=UTC)
    assert ago(at, now) == "3 h ago"
    assert ago(datetime.fromtimestamp(now - 10, tz=UTC), now) == "just now"
    assert expires_text(datetime.fromtimestamp(now + 13 * 86400 + 60, tz=UTC), now) == (
        "expires in 13 d"
    )
    assert expires_text(None, now) == "no expiry"
    assert span(90) == "1 min"
    assert ttl_text(1_209_600) == "14 d"
    assert ttl_text(7200) == "2 h"
