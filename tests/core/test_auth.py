"""Sign-in policy without streamlit: throttling, configuration refusals, no secrets leaked."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from clocks import FrozenClock
from telemetry.auth import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    EXAMPLE_COOKIE_KEY,
    MAX_FORM_PASSWORD_CHARS,
    MIN_COOKIE_KEY_LENGTH,
    MISSING_CREDENTIALS,
    WRONG_CREDENTIALS,
    AuthConfig,
    AuthConfigError,
    LoginThrottle,
    SignInOutcome,
    SignOutRegistry,
    ThrottlePolicy,
    check_auth_config,
    check_sign_in,
    format_wait,
    mode_cookie_key,
    throttle_message,
)
from telemetry.errors import ConfigError
from telemetry.users import add_user

COOKIE_KEY = "k3y-" + "x" * 40  # a valid 44-character key
PASSWORD = "correct horse battery"


# -- the throttle, step by step ------------------------------------------------------

# (time, action, username, expected) — action "fail" expects the wait that
# failure imposes; "ask" expects retry_after; "ok" is a successful sign-in.
DEFAULT_STEPS: list[tuple[float, str, str, float]] = [
    (0, "fail", "alice", 0),
    (1, "fail", "alice", 0),
    (2, "fail", "alice", 0),
    (3, "fail", "alice", 0),
    (3, "ask", "alice", 0),  # four failures: still allowed
    (4, "fail", "alice", 30),  # fifth within 15 min: wait 30 s
    (4, "ask", "alice", 30),
    (4, "ask", "bob", 0),  # other users unaffected
    (4, "ask", " ALICE ", 30),  # the form lower-cases and strips
    (20, "ask", "alice", 14),
    (33.5, "ask", "alice", 0.5),
    (34, "ask", "alice", 0),  # lifted after the wait
    (34, "fail", "alice", 60),  # still 5+ in the window: wait doubles
    (94, "ask", "alice", 0),
    (94, "fail", "alice", 120),
    (214, "fail", "alice", 240),
    (454, "fail", "alice", 480),
    (934, "fail", "alice", 0),  # the first five left the 15-min window
    (935, "fail", "alice", 900),  # five in the window again: 30 s x 2^5, capped at 15 min
    (1834, "ask", "alice", 1),
    (1835, "ask", "alice", 0),
    (1835, "fail", "alice", 0),  # a quiet window forgets everything
]


def _run_steps(throttle: LoginThrottle, clock: FrozenClock, steps) -> None:
    for index, (at, action, username, expected) in enumerate(steps):
        clock.now = 1_000.0 + at
        if action == "fail":
            got = throttle.record_failure(username)
        elif action == "ask":
            got = throttle.retry_after(username)
        else:
            throttle.record_success(username)
            got = 0.0
        assert got == pytest.approx(expected), f"step {index}: {(at, action, username)}"


def test_throttle_default_policy_table() -> None:
    clock = FrozenClock(1_000.0)
    throttle = LoginThrottle(clock=clock)
    assert throttle.policy == ThrottlePolicy()
    _run_steps(throttle, clock, DEFAULT_STEPS)


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [(0, "fail", "u", 0)] * 4
            + [(0, "ok", "u", 0), (1, "fail", "u", 0), (1, "ask", "u", 0)],
            id="success-forgets-failures",
        ),
        pytest.param(
            [(0, "fail", "u", 0)] * 4 + [(900, "fail", "u", 0), (900, "ask", "u", 0)],
            id="old-failures-leave-the-window",
        ),
        pytest.param(
            [(0, "fail", "u", 0)] * 4
            + [(1, "fail", "u", 30), (31, "ask", "u", 0), (2000, "fail", "u", 0)]
            + [(2000, "fail", "u", 0)] * 3
            + [(2000, "fail", "u", 30)],
            id="a-quiet-window-resets-the-doubling",
        ),
        pytest.param(
            [(0, "fail", "u", 0)] * 4
            + [(1, "fail", "u", 30), (10, "fail", "u", 21), (10, "ask", "u", 21)],
            id="failure-while-waiting-does-not-extend",
        ),
        pytest.param(
            [(0, "fail", "u", 0)] * 4
            + [(1, "fail", "u", 30)]
            + [(2, "fail", f"other{i}", 0) for i in range(4)]
            + [(2, "ask", "other0", 0), (2, "ask", "u", 29)],
            id="no-lockout-of-other-users",
        ),
    ],
)
def test_throttle_cases(steps) -> None:
    clock = FrozenClock(1_000.0)
    _run_steps(LoginThrottle(clock=clock), clock, steps)


def test_throttle_custom_policy() -> None:
    clock = FrozenClock(1_000.0)
    throttle = LoginThrottle(
        ThrottlePolicy(max_failures=2, window=60, base_delay=5, max_delay=12), clock=clock
    )
    _run_steps(
        throttle,
        clock,
        [
            (0, "fail", "u", 0),
            (0, "fail", "u", 5),
            (5, "fail", "u", 10),
            (15, "fail", "u", 12),
            (27, "fail", "u", 12),
            (90, "fail", "u", 0),  # all earlier failures left the 60 s window
        ],
    )


def test_throttle_is_thread_safe() -> None:
    clock = FrozenClock(1_000.0)
    throttle = LoginThrottle(ThrottlePolicy(max_failures=1000), clock=clock)
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(100):
            throttle.record_failure("shared")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 800 failures: below 1000 no wait; the 1000th would impose one.
    assert throttle.retry_after("shared") == 0
    for _ in range(199):
        assert throttle.record_failure("shared") == 0
    assert throttle.record_failure("shared") == 30


def test_parallel_attempts_are_counted_before_any_check() -> None:
    """Of 24 attempts begun at once for one username, only the first 5 may check a
    password: each is counted before it is checked, so a race cannot skip the throttle."""
    throttle = LoginThrottle(clock=FrozenClock(1_000.0))
    barrier = threading.Barrier(24)
    allowed: list[bool] = []

    def attempt() -> None:
        barrier.wait()
        allowed.append(throttle.begin_attempt("Victim") == 0)  # no outcome reported yet

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5
    assert throttle.retry_after("victim") == 30
    throttle.record_success("victim")  # a right password among them forgets the count
    assert throttle.retry_after("victim") == 0 and throttle.begin_attempt("victim") == 0


def test_throttle_memory_is_bounded() -> None:
    clock = FrozenClock(1_000.0)
    throttle = LoginThrottle(ThrottlePolicy(max_tracked=50), clock=clock)
    for _ in range(5):
        throttle.record_failure("victim")
    assert throttle.retry_after("victim") == 30
    for i in range(500):
        throttle.record_failure(f"spray{i}")
    assert len(throttle._entries) <= 50  # private on purpose: no public size to bound
    assert throttle.retry_after("victim") == 30  # spraying did not lift the wait
    throttle.reset()
    assert throttle.retry_after("victim") == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 second"),
        (1, "1 second"),
        (29.1, "30 seconds"),
        (60, "1 minute"),
        (61, "1 minute 1 second"),
        (150, "2 minutes 30 seconds"),
        (900, "15 minutes"),
    ],
)
def test_format_wait(seconds: float, text: str) -> None:
    assert format_wait(seconds) == text
    assert f"Try again in {text}." in throttle_message(seconds)


def test_sign_out_registry() -> None:
    clock = FrozenClock(5_000.0)
    registry = SignOutRegistry(clock=clock)
    assert registry.accepts("alice", 4_000.0)
    registry.sign_out("Alice")
    assert not registry.accepts("alice", 4_999.0)  # a cookie issued before the sign-out
    assert registry.accepts("alice", 5_001.0)  # signed in again afterwards
    assert registry.accepts("bob", 4_000.0)


# -- configuration --------------------------------------------------------------------


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "auth.yaml"
    add_user(path, "alice", PASSWORD, name="Alice", rounds=4)
    return path


def _real(settings_factory: Callable, **overrides):
    return settings_factory(redis_url="redis://127.0.0.1:1/0", **overrides)


# -- one submitted sign-in ----------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("alice", PASSWORD, SignInOutcome("alice", checked=True)),
        ("  ALICE ", f" {PASSWORD} ", SignInOutcome("alice", checked=True)),  # stripped
        ("alice", "wrong", SignInOutcome("alice", ("error", WRONG_CREDENTIALS), checked=True)),
        ("nobody", PASSWORD, SignInOutcome("nobody", ("error", WRONG_CREDENTIALS), checked=True)),
        ("", PASSWORD, SignInOutcome("", ("warning", MISSING_CREDENTIALS))),
        ("alice", "", SignInOutcome("alice", ("warning", MISSING_CREDENTIALS))),
        ("a" * 65, PASSWORD, SignInOutcome("", ("error", WRONG_CREDENTIALS))),
        (
            "alice",
            "p" * (MAX_FORM_PASSWORD_CHARS + 1),
            SignInOutcome("", ("error", WRONG_CREDENTIALS)),
        ),
    ],
    ids=["right", "edges", "wrong", "unknown", "no-name", "no-password", "long-name", "long-pw"],
)
def test_check_sign_in_outcomes(
    settings_factory: Callable, users_file: Path, username: str, password: str, expected
) -> None:
    """Each kind of submitted sign-in comes to its outcome, message included."""
    config = check_auth_config(
        _real(settings_factory, auth_config_path=users_file, auth_cookie_key=COOKIE_KEY)
    )
    assert check_sign_in(config, LoginThrottle(), username, password) == expected


def test_check_sign_in_counts_failures_and_refuses_unchecked_while_waiting(
    settings_factory: Callable, users_file: Path
) -> None:
    """The fifth failure says when to retry; then even the right password is not checked."""
    config = check_auth_config(
        _real(settings_factory, auth_config_path=users_file, auth_cookie_key=COOKIE_KEY)
    )
    clock = FrozenClock(1_000.0)
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        assert check_sign_in(config, throttle, "alice", "wrong").notice == (
            "error",
            WRONG_CREDENTIALS,
        )
    fifth = check_sign_in(config, throttle, "alice", "wrong")
    assert fifth.notice == ("error", f"{WRONG_CREDENTIALS} {throttle_message(30)}")
    waiting = check_sign_in(config, throttle, "alice", PASSWORD)
    assert waiting == SignInOutcome("alice", ("error", throttle_message(30)))
    clock.now += 30
    assert check_sign_in(config, throttle, "alice", PASSWORD).signed_in


def test_demo_mode(settings_factory: Callable) -> None:
    settings = settings_factory()
    assert settings.demo
    config = check_auth_config(settings)
    assert config.demo
    assert set(config.users) == {DEMO_USERNAME}
    assert config.demo_password == DEMO_PASSWORD
    assert config.check_password(DEMO_USERNAME, DEMO_PASSWORD)
    assert not config.check_password(DEMO_USERNAME, "wrong")
    key = config.cookie_key.get_secret_value()
    assert len(key) >= MIN_COOKIE_KEY_LENGTH
    assert check_auth_config(settings).cookie_key.get_secret_value() == key  # per process
    # A configured key is used (sessions then survive restarts), derived for demo mode.
    configured = check_auth_config(settings_factory(auth_cookie_key=COOKIE_KEY))
    assert (
        configured.cookie_key.get_secret_value()
        == mode_cookie_key(COOKIE_KEY, demo=True).get_secret_value()
    )
    assert configured.cookie_name == "run_lookup_auth_demo"


def test_demo_and_real_cookies_are_not_interchangeable(
    settings_factory: Callable, tmp_path: Path
) -> None:
    """A cookie a demo instance issued for `demo` never signs in a real user `demo`
    (same AUTH_COOKIE_KEY): the modes differ in signing key and cookie name."""
    path = tmp_path / "auth.yaml"
    add_user(path, DEMO_USERNAME, PASSWORD, rounds=4)
    demo = check_auth_config(settings_factory(auth_cookie_key=COOKIE_KEY))
    real = check_auth_config(
        _real(settings_factory, auth_config_path=path, auth_cookie_key=COOKIE_KEY)
    )
    now = time.time()
    claims = {"username": DEMO_USERNAME, "exp_date": now + 3600}
    demo_cookie = jwt.encode(claims, demo.cookie_key.get_secret_value(), algorithm="HS256")
    real_cookie = jwt.encode(claims, real.cookie_key.get_secret_value(), algorithm="HS256")
    assert demo.read_cookie(demo_cookie, now) == claims
    assert real.read_cookie(real_cookie, now) == claims
    assert real.read_cookie(demo_cookie, now) is None
    assert demo.read_cookie(real_cookie, now) is None
    assert demo.cookie_name != real.cookie_name
    # Nor does a cookie signed with the configured key itself (what an older build issued).
    raw = jwt.encode(claims, COOKIE_KEY, algorithm="HS256")
    assert real.read_cookie(raw, now) is None and demo.read_cookie(raw, now) is None


def test_real_mode_accepts_a_good_setup(settings_factory: Callable, users_file: Path) -> None:
    config = check_auth_config(
        _real(settings_factory, auth_config_path=users_file, auth_cookie_key=COOKIE_KEY)
    )
    assert not config.demo and config.demo_password is None
    assert set(config.users) == {"alice"}
    assert config.check_password("alice", PASSWORD)
    assert not config.check_password("alice", PASSWORD + "x")
    assert not config.check_password("nobody", PASSWORD)
    assert config.cookie_name == "run_lookup_auth"
    assert config.cookie_expiry_days == 1.0
    credentials = config.credentials()
    assert set(credentials["usernames"]["alice"]) == {"name", "password"}
    credentials["usernames"]["alice"]["logged_in"] = True  # the library mutates its copy
    assert "logged_in" not in config.credentials()["usernames"]["alice"]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        (None, "AUTH_COOKIE_KEY is not set"),
        ("   ", "AUTH_COOKIE_KEY is not set"),
        ("short-but-secret-value", "too short"),
        ("x" * (MIN_COOKIE_KEY_LENGTH - 1), "too short"),
        (EXAMPLE_COOKIE_KEY, "example value"),
        (f"  {EXAMPLE_COOKIE_KEY}  ", "example value"),
    ],
)
def test_real_mode_refuses_a_weak_cookie_key(
    settings_factory: Callable, users_file: Path, key: str | None, fragment: str
) -> None:
    settings = _real(settings_factory, auth_config_path=users_file, auth_cookie_key=key)
    with pytest.raises(AuthConfigError) as info:
        check_auth_config(settings)
    assert isinstance(info.value, ConfigError)
    assert fragment in str(info.value)
    assert "secrets.token_urlsafe(32)" in str(info.value)  # says how to fix it
    if key and key.strip() and key.strip() != EXAMPLE_COOKIE_KEY:
        assert key.strip() not in str(info.value)


def test_real_mode_refuses_without_users_file(settings_factory: Callable, tmp_path: Path) -> None:
    settings = _real(
        settings_factory, auth_config_path=tmp_path / "missing.yaml", auth_cookie_key=COOKIE_KEY
    )
    with pytest.raises(AuthConfigError) as info:
        check_auth_config(settings)
    assert len(info.value.problems) == 1
    assert "No users file" in str(info.value)
    assert "python -m telemetry users add USERNAME" in str(info.value)


def test_real_mode_refuses_with_no_users(settings_factory: Callable, tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text("credentials:\n  usernames: {}\n", encoding="utf-8")
    settings = _real(settings_factory, auth_config_path=path, auth_cookie_key=COOKIE_KEY)
    with pytest.raises(AuthConfigError, match="has no users"):
        check_auth_config(settings)


def test_real_mode_refuses_plain_text_passwords(settings_factory: Callable, tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(
        "credentials:\n  usernames:\n    bob:\n      password: plain-text-pw-123\n",
        encoding="utf-8",
    )
    settings = _real(settings_factory, auth_config_path=path, auth_cookie_key=COOKIE_KEY)
    with pytest.raises(AuthConfigError) as info:
        check_auth_config(settings)
    assert "bcrypt" in str(info.value)
    assert "plain-text-pw-123" not in str(info.value)


def test_every_problem_is_listed(settings_factory: Callable, tmp_path: Path) -> None:
    settings = _real(settings_factory, auth_config_path=tmp_path / "none.yaml")
    with pytest.raises(AuthConfigError) as info:
        check_auth_config(settings)
    assert len(info.value.problems) == 2
    assert "No users file" in info.value.problems[0]
    assert "AUTH_COOKIE_KEY is not set" in info.value.problems[1]


# -- secrets never in repr / str / logs -------------------------------------------------


def test_secrets_stay_out_of_reprs_and_logs(
    settings_factory: Callable,
    users_file: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    redis_password = "redis-pa55word-xyz"
    redis_url = f"redis://runlookup:{redis_password}@127.0.0.1:1/0"
    caplog.set_level(logging.DEBUG)
    settings = settings_factory(
        redis_url=redis_url, auth_config_path=users_file, auth_cookie_key=COOKIE_KEY
    )
    config = check_auth_config(settings)
    user = config.users["alice"]
    texts = [repr(settings), str(settings), repr(config), str(config), repr(user), str(user)]
    short = _real(settings_factory, auth_config_path=users_file, auth_cookie_key="tiny-secret-k")
    with pytest.raises(AuthConfigError) as info:
        check_auth_config(short)
    texts += [str(info.value), repr(info.value)]
    texts += [repr(LoginThrottle()), repr(SecretStr(COOKIE_KEY))]
    logging.getLogger("telemetry").info("settings: %s / %r / %s", settings, config, info.value)
    out, err = capsys.readouterr()
    texts += [caplog.text, out, err]
    blob = "\n".join(texts)
    for secret in (redis_password, COOKIE_KEY, "tiny-secret-k", PASSWORD, user.password_hash):
        assert secret not in blob
    assert "$2b$" not in blob


def test_auth_config_repr_hides_the_demo_password(settings_factory: Callable) -> None:
    config = check_auth_config(settings_factory())
    assert DEMO_PASSWORD not in repr(config)
    assert isinstance(config, AuthConfig)
