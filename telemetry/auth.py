"""Sign-in policy without streamlit: the auth configuration and login throttling.

* ``check_auth_config(settings)`` turns settings into an ``AuthConfig`` or
  refuses, with setup instructions, to serve real data without users and a
  strong cookie key. Demo mode (no ``REDIS_URL``) gets a demo user whose
  password the login page shows and a cookie key generated per process.
* ``LoginThrottle`` is a per-username back-off kept in the server process
  (streamlit-authenticator's ``max_login_attempts`` does not work).
* ``check_sign_in`` is what one submitted username and password come to:
  bounded input, the throttle's count, the bcrypt check, the message to show.
* ``SignOutRegistry`` remembers sign-outs so a copied or undeleted
  re-authentication cookie stops working at once (the library's cookies are
  stateless JWTs that stay valid until they expire).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from pydantic import SecretStr

from .config import Settings
from .errors import ConfigError
from .users import (
    BCRYPT_ROUNDS,
    MAX_USERNAME_LENGTH,
    SETUP_HINT,
    User,
    UsersFileError,
    hash_password,
    load_users,
    verify_password,
)

MIN_COOKIE_KEY_LENGTH = 32
# The placeholder in .streamlit/secrets.toml.example: never a real key.
EXAMPLE_COOKIE_KEY = "change-me-to-a-random-32+-char-string"
COOKIE_KEY_HINT = (
    'generate one with `python -c "import secrets; print(secrets.token_urlsafe(32))"` and set '
    "AUTH_COOKIE_KEY in the environment or .streamlit/secrets.toml"
)

# Far above a real token (~150 bytes); anything longer is not decoded at all.
MAX_COOKIE_LENGTH = 4096
SECONDS_PER_DAY = 86_400

DEMO_USERNAME = "demo"
# Demo mode serves generated data only; this password is shown on the login page.
DEMO_PASSWORD = "run-lookup-demo"  # noqa: S105
DEMO_BCRYPT_ROUNDS = 4  # the password is public: no point in a slow hash

Clock = Callable[[], float]

# Demo and real sign-in cookies must never be interchangeable (a demo cookie
# for `demo` would otherwise sign in a real user named `demo` wherever the two
# modes share AUTH_COOKIE_KEY): each mode signs with its own key derived from
# the configured one, under its own cookie name.
_COOKIE_KEY_CONTEXT = b"run-lookup sign-in cookie v1 mode="
DEMO_COOKIE_SUFFIX = "_demo"


def mode_cookie_key(key: str, *, demo: bool) -> SecretStr:
    """The key that signs cookies in one mode: HMAC(configured key, mode)."""
    mode = b"demo" if demo else b"real"
    derived = hmac.new(key.encode(), _COOKIE_KEY_CONTEXT + mode, hashlib.sha256).hexdigest()
    return SecretStr(derived)


def mode_cookie_name(name: str, *, demo: bool) -> str:
    return name + DEMO_COOKIE_SUFFIX if demo else name


class AuthConfigError(ConfigError):
    """Sign-in is not configured well enough to serve real data.

    ``problems`` lists each problem with its fix; ``str()`` joins them.
    Never contains a secret.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("Sign-in is not configured: " + " ".join(self.problems))


@dataclass(frozen=True)
class AuthConfig:
    """What the gate needs; secrets stay out of ``repr``."""

    users: Mapping[str, User]
    cookie_key: SecretStr = field(repr=False)
    cookie_name: str
    cookie_expiry_days: float
    demo: bool = False
    # Shown on the login page in demo mode; None outside it.
    demo_password: str | None = field(default=None, repr=False)

    def credentials(self) -> dict[str, Any]:
        """A fresh credentials dict for ``streamlit_authenticator.Authenticate``.

        A dict (never a path) so the library cannot write back to the users
        file; a fresh copy because the library mutates what it is given.
        """
        return copy.deepcopy(
            {"usernames": {name: user.to_credentials() for name, user in self.users.items()}}
        )

    def read_cookie(self, token: object, now: float) -> dict[str, Any] | None:
        """The claims of a sign-in cookie this configuration issued, or None.

        Valid means: signed with this mode's key (HS256 only), for a configured
        user, with an ``exp_date`` still ahead of ``now`` (wall clock). The one
        check for every way a cookie is read (sign-in from a cookie, and a
        session resumed on a new connection).
        """
        if not isinstance(token, str) or not token or len(token) > MAX_COOKIE_LENGTH:
            return None
        try:
            claims = jwt.decode(token, self.cookie_key.get_secret_value(), algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        if not isinstance(claims, dict):
            return None
        username = claims.get("username")
        expires = claims.get("exp_date")
        if not isinstance(username, str) or username not in self.users:
            return None
        if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= now:
            return None
        return claims

    def cookie_issued_at(self, claims: Mapping[str, Any]) -> float:
        """When a cookie was issued (its expiry less the lifetime it was given)."""
        return float(claims["exp_date"]) - self.cookie_expiry_days * SECONDS_PER_DAY

    def check_password(self, username: str, password: str) -> bool:
        """Constant-ish time: an unknown user costs one bcrypt check too."""
        user = self.users.get(username)
        if user is None:
            verify_password(password, _dummy_hash())
            return False
        return verify_password(password, user.password_hash)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16), rounds=BCRYPT_ROUNDS)


@functools.lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    return hash_password(DEMO_PASSWORD, rounds=DEMO_BCRYPT_ROUNDS)


@functools.lru_cache(maxsize=1)
def _demo_cookie_key() -> str:
    """Generated once per process: demo sessions end when the server restarts."""
    return secrets.token_urlsafe(32)


def demo_config(settings: Settings) -> AuthConfig:
    user = User(
        username=DEMO_USERNAME,
        name="Demo user",
        password_hash=_demo_password_hash(),
    )
    key = settings.auth_cookie_key
    if key is None or len(key.get_secret_value().strip()) < MIN_COOKIE_KEY_LENGTH:
        key = SecretStr(_demo_cookie_key())
    return AuthConfig(
        users={DEMO_USERNAME: user},
        cookie_key=mode_cookie_key(key.get_secret_value().strip(), demo=True),
        cookie_name=mode_cookie_name(settings.auth_cookie_name, demo=True),
        cookie_expiry_days=settings.auth_cookie_expiry_days,
        demo=True,
        demo_password=DEMO_PASSWORD,
    )


def cookie_key_problem(key: SecretStr | None) -> str | None:
    """Why ``key`` cannot sign real sessions, or None. Never includes the key."""
    if key is None or not key.get_secret_value().strip():
        return f"AUTH_COOKIE_KEY is not set: {COOKIE_KEY_HINT}."
    value = key.get_secret_value().strip()
    if value == EXAMPLE_COOKIE_KEY:
        return (
            "AUTH_COOKIE_KEY is still the example value from .streamlit/secrets.toml.example: "
            f"{COOKIE_KEY_HINT}."
        )
    if len(value) < MIN_COOKIE_KEY_LENGTH:
        return (
            f"AUTH_COOKIE_KEY is too short (at least {MIN_COOKIE_KEY_LENGTH} characters "
            f"needed): {COOKIE_KEY_HINT}."
        )
    return None


def check_auth_config(settings: Settings) -> AuthConfig:
    """The sign-in configuration, or ``AuthConfigError`` listing every problem and its fix.

    Real mode (``REDIS_URL`` set) needs at least one user in ``AUTH_CONFIG_PATH``
    and a cookie key of 32+ characters that is not the example value.
    """
    if settings.demo:
        return demo_config(settings)
    problems: list[str] = []
    path = Path(settings.auth_config_path)
    users: dict[str, User] = {}
    try:
        users = load_users(path, missing_ok=False)
    except UsersFileError as exc:
        problems.append(str(exc))
    else:
        if not users:
            problems.append(f"The users file {path} has no users: add one with `{SETUP_HINT}`.")
    key_problem = cookie_key_problem(settings.auth_cookie_key)
    if key_problem:
        problems.append(key_problem)
    if problems:
        raise AuthConfigError(problems)
    assert settings.auth_cookie_key is not None  # noqa: S101 - checked just above
    return AuthConfig(
        users=users,
        cookie_key=mode_cookie_key(settings.auth_cookie_key.get_secret_value().strip(), demo=False),
        cookie_name=mode_cookie_name(settings.auth_cookie_name, demo=False),
        cookie_expiry_days=settings.auth_cookie_expiry_days,
    )


# -- throttling -------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    """After ``max_failures`` failures within ``window`` seconds, a username waits
    ``base_delay`` seconds; each further failure in the window doubles the wait,
    up to ``max_delay``. A quiet ``window`` (or a success) forgets everything."""

    max_failures: int = 5
    window: float = 15 * 60.0
    base_delay: float = 30.0
    max_delay: float = 15 * 60.0
    max_tracked: int = 10_000  # usernames remembered at once (bounded memory)


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    lockouts: int = 0
    locked_until: float = 0.0
    last_seen: float = 0.0


def throttle_key(username: str) -> str:
    """The login form lower-cases and strips usernames; so does the throttle."""
    return (username or "").strip().lower()


def format_wait(seconds: float) -> str:
    total = max(1, math.ceil(seconds))
    minutes, secs = divmod(total, 60)
    if not minutes:
        return f"{secs} second{'s' if secs != 1 else ''}"
    text = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if secs:
        text += f" {secs} second{'s' if secs != 1 else ''}"
    return text


def throttle_message(seconds: float) -> str:
    return (
        f"Too many failed sign-in attempts for this username. Try again in {format_wait(seconds)}."
    )


class LoginThrottle:
    """Per-username back-off, thread-safe, in memory (one per server process).

    Callers ask ``retry_after(username)`` before checking a password (and do
    not check it while that is positive), then report the outcome with
    ``record_failure`` / ``record_success``. Other usernames are unaffected.
    ``clock`` is a monotonic clock in seconds; tests replace it.
    """

    def __init__(self, policy: ThrottlePolicy | None = None, clock: Clock | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self.clock: Clock = clock or time.monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LoginThrottle({self.policy!r}, tracked={len(self._entries)})"

    def _prune(self, entry: _Entry, now: float) -> None:
        horizon = now - self.policy.window
        while entry.failures and entry.failures[0] <= horizon:
            entry.failures.popleft()
        if not entry.failures and now >= entry.locked_until:
            entry.lockouts = 0

    def retry_after(self, username: str) -> float:
        """Seconds this username must wait before its next attempt (0 = may try now)."""
        key = throttle_key(username)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0.0
            now = self.clock()
            self._prune(entry, now)
            return max(0.0, entry.locked_until - now)

    def begin_attempt(self, username: str) -> float:
        """Count an attempt before its password is checked: 0 = check it, >0 = refused.

        Counting first is what bounds parallel guessing: of N attempts sent at
        once, at most ``max_failures`` reach the password check, because each
        one is counted (under the lock) before any is checked. A success
        forgets the count (``record_success``), so a right password costs
        nothing. A refused attempt is not counted again.
        """
        with self._lock:
            now = self.clock()
            entry = self._entry(throttle_key(username), now)
            if now < entry.locked_until:
                return entry.locked_until - now
            self._count(entry, now)
            return 0.0

    def record_failure(self, username: str) -> float:
        """Count a failed attempt; returns the wait it imposes now (0 = none yet)."""
        with self._lock:
            now = self.clock()
            entry = self._entry(throttle_key(username), now)
            if now < entry.locked_until:  # a caller that did not ask first
                return entry.locked_until - now
            return self._count(entry, now)

    def _entry(self, key: str, now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            self._evict(now)
            entry = self._entries[key] = _Entry()
        self._entries.move_to_end(key)
        entry.last_seen = now
        self._prune(entry, now)
        return entry

    def _count(self, entry: _Entry, now: float) -> float:
        policy = self.policy
        entry.failures.append(now)
        if len(entry.failures) >= policy.max_failures:
            delay = min(policy.base_delay * 2**entry.lockouts, policy.max_delay)
            entry.lockouts += 1
            entry.locked_until = now + delay
            return delay
        return 0.0

    def tracked(self) -> list[str]:
        """The usernames this throttle holds state for (what its memory is spent on)."""
        with self._lock:
            return list(self._entries)

    def record_success(self, username: str) -> None:
        with self._lock:
            self._entries.pop(throttle_key(username), None)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def _evict(self, now: float) -> None:
        """Make room for one more entry (bounded memory).

        Forgotten entries go first, then the least recently seen that are not
        waiting, and only then waiting ones: spraying other usernames does not
        cheaply lift a username's wait.
        """
        limit = self.policy.max_tracked - 1
        if len(self._entries) <= limit:
            return
        for key in list(self._entries):
            entry = self._entries[key]
            self._prune(entry, now)
            if not entry.failures and now >= entry.locked_until:
                del self._entries[key]
        for key in list(self._entries):
            if len(self._entries) <= limit:
                return
            if now >= self._entries[key].locked_until:
                del self._entries[key]
        while len(self._entries) > limit:
            self._entries.popitem(last=False)


WRONG_CREDENTIALS = "Wrong username or password."
MISSING_CREDENTIALS = "Enter your username and password."
# What the form accepts at all (users add allows 64 characters, bcrypt uses 72
# bytes): a longer value is refused before it is kept, hashed or counted.
MAX_FORM_PASSWORD_CHARS = 1_024


@dataclass(frozen=True)
class SignInOutcome:
    """What one submitted username and password came to (``check_sign_in``)."""

    username: str  # the throttle key; "" when the input was refused for its length
    notice: tuple[str, str] | None = None  # (level, text) for the login page; None: signed in
    checked: bool = False  # the password was checked against bcrypt

    @property
    def signed_in(self) -> bool:
        return self.notice is None


def check_sign_in(
    config: AuthConfig, throttle: LoginThrottle, typed_username: str, password: str
) -> SignInOutcome:
    """Count and check one submitted sign-in; the outcome says what to show."""
    if len(typed_username) > MAX_USERNAME_LENGTH or len(password) > MAX_FORM_PASSWORD_CHARS:
        # No user has such a name: refused before it is kept, counted or hashed (a
        # throttle key per 10 MB "username" would be memory anyone can fill).
        return SignInOutcome("", ("error", WRONG_CREDENTIALS))
    username = throttle_key(typed_username)
    if not username or not password:
        return SignInOutcome(username, ("warning", MISSING_CREDENTIALS))
    wait = throttle.begin_attempt(username)  # counted before the check: see begin_attempt
    if wait > 0:
        # No password check at all while the username waits.
        return SignInOutcome(username, ("error", throttle_message(wait)))
    # Stripped as streamlit-authenticator's login did (users add refuses such edges).
    # An unknown username costs the same bcrypt check: no timing oracle.
    if config.check_password(username, password.strip()):
        throttle.record_success(username)
        return SignInOutcome(username, checked=True)
    wait = throttle.retry_after(username)
    text = WRONG_CREDENTIALS + (" " + throttle_message(wait) if wait > 0 else "")
    return SignInOutcome(username, ("error", text), checked=True)


class SignOutRegistry:
    """When each username last signed out (wall clock), in this server process.

    A re-authentication cookie issued before its user's last sign-out is
    refused, so signing out ends every session of that user that would come
    back through a cookie.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or time.time
        self._signed_out: dict[str, float] = {}
        self._lock = threading.Lock()

    def sign_out(self, username: str) -> None:
        with self._lock:
            self._signed_out[throttle_key(username)] = self.clock()

    def reset(self) -> None:
        with self._lock:
            self._signed_out.clear()

    def accepts(self, username: str, issued_at: float) -> bool:
        with self._lock:
            signed_out = self._signed_out.get(throttle_key(username))
        return signed_out is None or issued_at > signed_out
