"""The credentials file (``AUTH_CONFIG_PATH``) and ``python -m telemetry users …``.

The file is streamlit-authenticator's YAML format, holding bcrypt hashes only::

    credentials:
      usernames:
        alice:
          name: Alice Example
          email: alice@example.com
          password: $2b$12$...   # bcrypt hash, never a plain password

Only this module (through the CLI) writes it; the app reads it and never
writes back. Never imports streamlit.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, TelemetryError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_BYTES = 72  # bcrypt's limit (bcrypt 5 refuses longer passwords)
BCRYPT_ROUNDS = 12
MAX_USERNAME_LENGTH = 64

# $2a$/$2b$/$2y$, a two-digit cost, 22 characters of salt + 31 of hash.
_BCRYPT_RE = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")

FILE_HEADER = (
    "# Run Lookup sign-in users (streamlit-authenticator format), bcrypt hashes only.\n"
    "# Managed with `python -m telemetry users add|remove|list`; keep this file private.\n"
)
SETUP_HINT = "python -m telemetry users add USERNAME"


class UsersFileError(ConfigError):
    """The credentials file cannot be read or is not in the expected shape."""


class UserError(TelemetryError):
    """A bad username or password, or a user that does (not) exist."""


@dataclass(frozen=True)
class User:
    """One sign-in user. The hash is kept out of ``repr``."""

    username: str
    name: str = ""
    email: str = ""
    password_hash: str = field(default="", repr=False)

    @property
    def display_name(self) -> str:
        return self.name or self.username

    def to_credentials(self) -> dict[str, Any]:
        """The entry streamlit-authenticator expects under ``credentials.usernames``."""
        entry: dict[str, Any] = {"name": self.display_name, "password": self.password_hash}
        if self.email:
            entry["email"] = self.email
        return entry


def is_bcrypt_hash(value: object) -> bool:
    return isinstance(value, str) and bool(_BCRYPT_RE.match(value))


def normalize_username(raw: str) -> str:
    """Lower-cased and stripped (the login form does the same), or ``UserError``."""
    username = (raw or "").strip().lower()
    if not username:
        raise UserError("The username is empty.")
    if len(username) > MAX_USERNAME_LENGTH or not _USERNAME_RE.match(username):
        raise UserError(
            f"Invalid username {username[:MAX_USERNAME_LENGTH]!r}: use up to "
            f"{MAX_USERNAME_LENGTH} characters a-z, 0-9 and . _ @ + - (starting with a "
            "letter or digit)."
        )
    return username


def check_password(password: str, *, username: str = "") -> None:
    """Raise ``UserError`` (never echoing the password) unless it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
            f"(got {len(password)})."
        )
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise UserError(
            f"The password is too long: bcrypt uses at most {MAX_PASSWORD_BYTES} bytes (UTF-8)."
        )
    if password != password.strip():
        raise UserError(
            "The password starts or ends with whitespace, which the login form strips; remove it."
        )
    if username and password.lower() == username.lower():
        raise UserError("The password must not be the username.")


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    import bcrypt  # here, not at the top: every CLI command imports this module

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; False for a wrong, over-long or malformed input."""
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except (ValueError, TypeError, UnicodeError):
        return False


# -- the file ---------------------------------------------------------------------


def _read_document(path: Path) -> dict[str, Any]:
    """The parsed YAML document ({} for an empty file); ``FileNotFoundError`` if absent."""
    import yaml  # here, not at the top: every CLI command imports this module

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UsersFileError(f"Cannot read the users file {path}: {reason}.") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Never echo the file's content (it holds hashes): position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsersFileError(f"The users file {path} is not valid YAML{where}.") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise UsersFileError(
            f"The users file {path} must be a mapping with a 'credentials' key "
            f"(see .streamlit/auth.example.yaml)."
        )
    return document


def _parse_users(
    document: dict[str, Any], path: Path, *, replacing: str | None = None
) -> dict[str, User]:
    """Users from the document; ``replacing`` may lack a valid hash (it gets a new one)."""
    credentials = document.get("credentials") or {}
    if not isinstance(credentials, dict):
        raise UsersFileError(f"{path}: 'credentials' must be a mapping with 'usernames'.")
    entries = credentials.get("usernames") or {}
    if not isinstance(entries, dict):
        raise UsersFileError(f"{path}: 'credentials.usernames' must be a mapping.")
    users: dict[str, User] = {}
    for raw_name, entry in entries.items():
        try:
            username = normalize_username(str(raw_name))
        except UserError as exc:
            raise UsersFileError(f"{path}: {exc}") from None
        if username in users:
            raise UsersFileError(f"{path}: user {username!r} appears twice (names ignore case).")
        if not isinstance(entry, dict):
            raise UsersFileError(f"{path}: user {username!r} must be a mapping.")
        password_hash = entry.get("password")
        if not is_bcrypt_hash(password_hash) and username != replacing:
            raise UsersFileError(
                f"{path}: user {username!r} has no bcrypt password hash (plain passwords are "
                f"not accepted). Set one with `python -m telemetry users add {username} "
                "--update`."
            )
        name = entry.get("name") or ""
        email = entry.get("email") or ""
        users[username] = User(
            username=username,
            name=str(name),
            email=str(email),
            password_hash=str(password_hash),
        )
    return users


def load_users(
    path: Path | str, *, missing_ok: bool = True, replacing: str | None = None
) -> dict[str, User]:
    """Users by (lower-case) username.

    A missing file is no users when ``missing_ok``, else ``UsersFileError``.
    Any malformed entry (including a plain-text password) is a ``UsersFileError``,
    except the password of ``replacing``, the user whose password is being set.
    """
    path = Path(path)
    try:
        document = _read_document(path)
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise UsersFileError(
            f"No users file at {path}. Create the first user with `{SETUP_HINT}` "
            "(or point AUTH_CONFIG_PATH at the file)."
        ) from None
    return _parse_users(document, path, replacing=replacing)


def save_users(path: Path | str, users: dict[str, User]) -> None:
    """Write ``users`` atomically, keeping other top-level keys; new files are mode 0600."""
    path = Path(path)
    try:
        document = _read_document(path)
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        document, mode = {}, 0o600
    credentials = document.get("credentials")
    if not isinstance(credentials, dict):
        credentials = {}
    credentials["usernames"] = {
        name: users[name].to_credentials() for name in sorted(users, key=str.lower)
    }
    document["credentials"] = credentials
    import yaml

    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(FILE_HEADER + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def add_user(
    path: Path | str,
    username: str,
    password: str,
    *,
    name: str = "",
    email: str = "",
    update: bool = False,
    rounds: int = BCRYPT_ROUNDS,
) -> User:
    """Add (or with ``update`` replace) a user; only the bcrypt hash is stored."""
    username = normalize_username(username)
    check_password(password, username=username)
    users = load_users(path, replacing=username if update else None)
    existing = users.get(username)
    if existing is not None and not update:
        raise UserError(
            f"User {username!r} already exists in {path}; pass --update to change the "
            "password (or `users remove` first)."
        )
    user = User(
        username=username,
        name=name or (existing.name if existing else "") or username,
        email=email or (existing.email if existing else ""),
        password_hash=hash_password(password, rounds=rounds),
    )
    users[username] = user
    save_users(path, users)
    return user


def remove_user(path: Path | str, username: str) -> User:
    username = normalize_username(username)
    users = load_users(path, missing_ok=False)
    user = users.pop(username, None)
    if user is None:
        raise UserError(f"No user {username!r} in {path}.")
    save_users(path, users)
    return user


# -- the CLI ----------------------------------------------------------------------


def _read_new_password() -> str:
    """From a prompt with confirmation, or the first line of stdin when it is not a tty."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        password = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat password: ")
        if password != repeated:
            raise UserError("The passwords do not match; nothing was changed.")
        return password
    line = stdin.readline() if stdin is not None else ""
    if not line:
        raise UserError("No password given: type it at the prompt or pipe it as the first line.")
    return line.rstrip("\r\n")


def _users_path(args: argparse.Namespace, settings: Any) -> Path:
    return Path(args.file) if args.file else Path(settings.auth_config_path)


def cmd_users_add(args: argparse.Namespace, settings: Any) -> int:
    path = _users_path(args, settings)
    username = normalize_username(args.username)
    # Fail on an existing user before asking for a password.
    if not args.update and username in load_users(path, replacing=username):
        raise UserError(
            f"User {username!r} already exists in {path}; pass --update to change the password."
        )
    password = _read_new_password()
    user = add_user(
        path,
        username,
        password,
        name=args.name or "",
        email=args.email or "",
        update=args.update,
    )
    verb = "updated" if args.update else "added"
    print(f"{verb} user {user.username!r} in {path} (bcrypt hash only)", file=sys.stderr)
    return 0


def cmd_users_remove(args: argparse.Namespace, settings: Any) -> int:
    path = _users_path(args, settings)
    user = remove_user(path, args.username)
    print(f"removed user {user.username!r} from {path}", file=sys.stderr)
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Any) -> int:
    path = _users_path(args, settings)
    users = load_users(path)
    if not users:
        print(f"no users in {path}; add one with `{SETUP_HINT}`", file=sys.stderr)
        return 0
    rows = [("username", "name", "email")]
    rows += [(u.username, u.name, u.email) for u in users.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip())
    return 0


def register_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``users`` command group (add / remove / list) to the CLI."""
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument(
        "--file",
        metavar="PATH",
        help="credentials YAML; overrides AUTH_CONFIG_PATH (default .streamlit/auth.yaml)",
    )
    users = subparsers.add_parser(
        "users",
        help="manage the app's sign-in users (bcrypt hashes in AUTH_CONFIG_PATH)",
        description="Manage the users who can sign in to the app. The credentials file holds "
        "bcrypt hashes only; the app never writes to it.",
    )
    commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    add = commands.add_parser(
        "add",
        parents=[common, files],
        help="add a user (password from a prompt, or the first line of stdin)",
        description=f"Add a user. The password (at least {MIN_PASSWORD_LENGTH} characters) is "
        "read from a prompt with confirmation, or from the first line of stdin when it is "
        "not a terminal; only its bcrypt hash is stored.",
    )
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("--name", help="display name (default: the username)")
    add.add_argument("--email", help="email address (optional)")
    add.add_argument(
        "--update", action="store_true", help="replace the password of an existing user"
    )
    add.set_defaults(handler=cmd_users_add)

    remove = commands.add_parser(
        "remove",
        parents=[common, files],
        help="remove a user",
        description="Remove a user; their signed-in sessions end at their next interaction.",
    )
    remove.add_argument("username", metavar="USERNAME")
    remove.set_defaults(handler=cmd_users_remove)

    listing = commands.add_parser(
        "list",
        parents=[common, files],
        help="list users (never their hashes)",
        description="List usernames, names and emails (never password hashes).",
    )
    listing.set_defaults(handler=cmd_users_list)
