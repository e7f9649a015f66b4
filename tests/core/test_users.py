"""``python -m telemetry users add|remove|list`` and the credentials file."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
import yaml

from telemetry.cli import main
from telemetry.users import (
    MIN_PASSWORD_LENGTH,
    User,
    UserError,
    UsersFileError,
    add_user,
    is_bcrypt_hash,
    load_users,
    remove_user,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
OTHER_PASSWORD = "another long passphrase"


class _Tty(io.StringIO):
    """A stdin that claims to be a terminal (the prompt path)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return tmp_path / "conf" / "auth.yaml"


@pytest.fixture
def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``main(argv)`` with ``stdin`` text; returns (status, stdout, stderr)."""

    def run(argv: list[str], stdin: str | io.StringIO = "") -> tuple[int, str, str]:
        stream = stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
        monkeypatch.setattr(sys, "stdin", stream)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse --help / usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _stored(path: Path) -> dict[str, dict[str, str]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document["credentials"]["usernames"]


def _assert_no_secret(text: str, *secrets: str) -> None:
    assert "$2b$" not in text and "$2a$" not in text and "$2y$" not in text
    for secret in secrets:
        assert secret not in text


# -- via main() -------------------------------------------------------------------


def test_add_from_stdin_stores_only_a_bcrypt_hash(users_file: Path, run_main) -> None:
    code, out, err = run_main(
        [
            "users",
            "add",
            "Alice",
            "--file",
            str(users_file),
            "--name",
            "Alice A.",
            "--email",
            "a@x.io",
        ],
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert out == ""
    assert "added user 'alice'" in err
    _assert_no_secret(out + err, PASSWORD)
    stored = _stored(users_file)
    assert set(stored) == {"alice"}  # lower-cased, like the login form
    entry = stored["alice"]
    assert entry["name"] == "Alice A." and entry["email"] == "a@x.io"
    assert is_bcrypt_hash(entry["password"])
    assert bcrypt.checkpw(PASSWORD.encode(), entry["password"].encode())
    text = users_file.read_text(encoding="utf-8")
    assert PASSWORD not in text
    assert set(entry) == {"name", "email", "password"}  # nothing else (no plain text)


def test_new_file_is_private(users_file: Path, run_main) -> None:
    code, _, err = run_main(["users", "add", "bob", "--file", str(users_file)], PASSWORD + "\n")
    assert code == 0, err
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600


def test_stdin_uses_the_first_line_only(users_file: Path, run_main) -> None:
    code, _, err = run_main(
        ["users", "add", "carol", "--file", str(users_file)],
        stdin=f"{PASSWORD}\r\n{OTHER_PASSWORD}\n",
    )
    assert code == 0, err
    hashed = _stored(users_file)["carol"]["password"].encode()
    assert bcrypt.checkpw(PASSWORD.encode(), hashed)
    assert not bcrypt.checkpw(OTHER_PASSWORD.encode(), hashed)


def test_empty_stdin_is_an_error(users_file: Path, run_main) -> None:
    code, _, err = run_main(["users", "add", "dave", "--file", str(users_file)], stdin="")
    assert code == 2
    assert "No password given" in err
    assert not users_file.exists()


def test_prompt_asks_twice(users_file: Path, run_main, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, PASSWORD])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    code, out, err = run_main(["users", "add", "erin", "--file", str(users_file)], _Tty())
    assert code == 0, err
    assert prompts == ["Password: ", "Repeat password: "]
    assert bcrypt.checkpw(PASSWORD.encode(), _stored(users_file)["erin"]["password"].encode())
    _assert_no_secret(out + err, PASSWORD)


def test_prompt_mismatch_changes_nothing(
    users_file: Path, run_main, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, OTHER_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, out, err = run_main(["users", "add", "frank", "--file", str(users_file)], _Tty())
    assert code == 2
    assert "do not match" in err
    assert not users_file.exists()
    _assert_no_secret(out + err, PASSWORD, OTHER_PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("x" * (MIN_PASSWORD_LENGTH - 1), f"at least {MIN_PASSWORD_LENGTH} characters"),
        ("", "No password given"),
        ("é" * 37, "too long"),  # 74 bytes: over bcrypt's 72
        (f" {PASSWORD}", "whitespace"),
        ("gracegracegrace", "must not be the username"),
    ],
)
def test_password_rules(users_file: Path, run_main, password: str, message: str) -> None:
    stdin = password + "\n" if password else ""
    code, out, err = run_main(["users", "add", "gracegracegrace", "--file", str(users_file)], stdin)
    assert code == 2
    assert message in err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not users_file.exists()
    if password.strip():
        assert password.strip() not in out + err


def test_minimum_length_is_accepted(users_file: Path, run_main) -> None:
    password = "p" * MIN_PASSWORD_LENGTH
    code, _, err = run_main(["users", "add", "heidi", "--file", str(users_file)], password + "\n")
    assert code == 0, err


@pytest.mark.parametrize("username", ["", "   ", "bad name", "-dash", "semi;colon", "x" * 65])
def test_bad_usernames(users_file: Path, run_main, username: str) -> None:
    code, _, err = run_main(["users", "add", username, "--file", str(users_file)], PASSWORD + "\n")
    assert code == 2
    assert "error:" in err
    assert not users_file.exists()


def test_existing_user_needs_update(users_file: Path, run_main) -> None:
    assert run_main(["users", "add", "ivan", "--file", str(users_file)], PASSWORD + "\n")[0] == 0
    first = _stored(users_file)["ivan"]["password"]
    code, _, err = run_main(
        ["users", "add", "IVAN", "--file", str(users_file)], OTHER_PASSWORD + "\n"
    )
    assert code == 2 and "already exists" in err and "--update" in err
    assert _stored(users_file)["ivan"]["password"] == first

    code, _, err = run_main(
        ["users", "add", "ivan", "--update", "--file", str(users_file)], OTHER_PASSWORD + "\n"
    )
    assert code == 0, err
    second = _stored(users_file)["ivan"]["password"]
    assert bcrypt.checkpw(OTHER_PASSWORD.encode(), second.encode())
    assert not bcrypt.checkpw(PASSWORD.encode(), second.encode())


def test_list_never_shows_hashes(users_file: Path, run_main) -> None:
    run_main(
        ["users", "add", "judy", "--file", str(users_file), "--email", "j@x.io"], PASSWORD + "\n"
    )
    run_main(
        ["users", "add", "ken", "--file", str(users_file), "--name", "Ken K."], PASSWORD + "\n"
    )
    code, out, err = run_main(["users", "list", "--file", str(users_file)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["username", "name", "email"]
    assert lines[1].split() == ["judy", "judy", "j@x.io"]
    assert lines[2].split() == ["ken", "Ken", "K."]
    _assert_no_secret(out + err, PASSWORD)


def test_list_without_a_file(users_file: Path, run_main) -> None:
    code, out, err = run_main(["users", "list", "--file", str(users_file)])
    assert code == 0
    assert out == ""
    assert "no users" in err and "users add" in err


def test_remove(users_file: Path, run_main) -> None:
    run_main(["users", "add", "leo", "--file", str(users_file)], PASSWORD + "\n")
    run_main(["users", "add", "mia", "--file", str(users_file)], PASSWORD + "\n")
    code, _, err = run_main(["users", "remove", "LEO", "--file", str(users_file)])
    assert code == 0, err
    assert "removed user 'leo'" in err
    assert set(_stored(users_file)) == {"mia"}
    code, _, err = run_main(["users", "remove", "leo", "--file", str(users_file)])
    assert code == 2 and "No user 'leo'" in err


def test_remove_without_a_file(users_file: Path, run_main) -> None:
    code, _, err = run_main(["users", "remove", "nobody", "--file", str(users_file)])
    assert code == 2
    assert "No users file" in err


def test_auth_config_path_is_the_default_file(
    tmp_path: Path, run_main, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.yaml"
    monkeypatch.setenv("AUTH_CONFIG_PATH", str(path))
    code, _, err = run_main(["users", "add", "nina"], PASSWORD + "\n")
    assert code == 0, err
    assert set(_stored(path)) == {"nina"}


def test_plain_text_password_in_file_is_refused(users_file: Path, run_main) -> None:
    users_file.parent.mkdir(parents=True)
    users_file.write_text(
        "credentials:\n  usernames:\n    oscar:\n      password: hunter2-plain-text\n",
        encoding="utf-8",
    )
    code, out, err = run_main(["users", "list", "--file", str(users_file)])
    assert code == 2
    assert "bcrypt" in err and "oscar" in err
    assert "hunter2-plain-text" not in out + err
    with pytest.raises(UsersFileError):
        load_users(users_file)


def test_malformed_yaml_is_reported_without_content(users_file: Path, run_main) -> None:
    users_file.parent.mkdir(parents=True)
    users_file.write_text("credentials: [unclosed secret-ish-content\n", encoding="utf-8")
    code, _, err = run_main(["users", "list", "--file", str(users_file)])
    assert code == 2
    assert "not valid YAML" in err and "line" in err
    assert "secret-ish-content" not in err


def test_other_top_level_keys_are_kept(users_file: Path) -> None:
    users_file.parent.mkdir(parents=True)
    users_file.write_text("extra:\n  keep: me\n", encoding="utf-8")
    add_user(users_file, "pat", PASSWORD, rounds=4)
    document = yaml.safe_load(users_file.read_text(encoding="utf-8"))
    assert document["extra"] == {"keep": "me"}
    assert set(document["credentials"]["usernames"]) == {"pat"}


def test_library_functions(users_file: Path) -> None:
    user = add_user(users_file, "Quinn", PASSWORD, name="Q", rounds=4)
    assert user.username == "quinn"
    assert "$2" not in repr(user) and PASSWORD not in repr(user)
    assert load_users(users_file) == {"quinn": user}
    with pytest.raises(UserError):
        add_user(users_file, "quinn", PASSWORD, rounds=4)
    assert remove_user(users_file, "quinn") == user
    assert load_users(users_file) == {}
    assert load_users(users_file.parent / "missing.yaml") == {}
    with pytest.raises(UsersFileError, match="No users file"):
        load_users(users_file.parent / "missing.yaml", missing_ok=False)
    assert User("x").to_credentials() == {"name": "x", "password": ""}


def test_help(run_main) -> None:
    for argv in (["users", "--help"], ["users", "add", "--help"], ["users", "list", "--help"]):
        code, out, _ = run_main(argv)
        assert code == 0
        assert "usage:" in out
    code, _, err = run_main(["users"])
    assert code == 2 and "error:" in err


# -- as a subprocess (the real entry point, a real pipe) ----------------------------


def _cli(*args: str, stdin: str = "", env_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AUTH_CONFIG_PATH=str(env_path))
    return subprocess.run(
        [sys.executable, "-m", "telemetry", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_subprocess_add_list_remove(users_file: Path) -> None:
    added = _cli(
        "users", "add", "rita", "--name", "Rita R", stdin=PASSWORD + "\n", env_path=users_file
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""
    _assert_no_secret(added.stdout + added.stderr, PASSWORD)
    assert bcrypt.checkpw(PASSWORD.encode(), _stored(users_file)["rita"]["password"].encode())

    listed = _cli("users", "list", env_path=users_file)
    assert listed.returncode == 0, listed.stderr
    assert "rita" in listed.stdout and "Rita R" in listed.stdout
    _assert_no_secret(listed.stdout + listed.stderr, PASSWORD)

    short = _cli("users", "add", "sam", stdin="short\n", env_path=users_file)
    assert short.returncode == 2
    assert "at least 12" in short.stderr and "Traceback" not in short.stderr

    removed = _cli("users", "remove", "rita", env_path=users_file)
    assert removed.returncode == 0, removed.stderr
    assert _stored(users_file) == {}
    listed = _cli("users", "list", env_path=users_file)
    assert listed.returncode == 0 and listed.stdout == ""


def test_the_example_file_documents_the_format_but_signs_nobody_in(tmp_path: Path) -> None:
    example = ROOT / ".streamlit" / "auth.example.yaml"
    document = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert set(document["credentials"]["usernames"]["alice"]) == {"name", "email", "password"}
    assert "users add" in example.read_text(encoding="utf-8")
    # Copied as it is, the placeholder hash is refused (no one can sign in with it).
    with pytest.raises(UsersFileError, match="bcrypt"):
        load_users(example)
    # `users add --update` on a copy turns it into a working file.
    copy = tmp_path / "auth.yaml"
    copy.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    add_user(copy, "alice", PASSWORD, update=True, rounds=4)
    alice = load_users(copy)["alice"]
    assert alice.name == "Alice Example"
    assert bcrypt.checkpw(PASSWORD.encode(), alice.password_hash.encode())
