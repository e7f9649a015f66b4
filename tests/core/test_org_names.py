"""ORG_NAMES_PATH (issue #16): the mapping file read, its errors naming the path and the
line, the setting, and the grouped CSV's extra column only when it is set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.config import Settings
from telemetry.errors import ConfigError
from telemetry.org_names import load_org_names
from telemetry.summary import Summary


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "orgs.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_unset_is_none() -> None:
    """Without the setting there is no mapping (and every output stays as the contract)."""
    assert load_org_names(None) is None


def test_reads_ids_and_names(tmp_path: Path) -> None:
    """Header, quoted names with commas, a BOM, blank lines and spaces around cells."""
    path = write(
        tmp_path,
        '\ufefforganization_id,name\r\norg_A, Acme \r\n\r\norg_B,"Beta, Inc."\r\norg_A,Acme\r\n',
    )
    assert load_org_names(path) == {"org_A": "Acme", "org_B": "Beta, Inc."}


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    """The cache follows the file: an edited mapping is seen without a restart."""
    path = write(tmp_path, "organization_id,name\norg_A,Acme\n")
    assert load_org_names(path) == {"org_A": "Acme"}
    path.write_text("organization_id,name\norg_A,Acme Corporation\n", encoding="utf-8")
    assert load_org_names(path) == {"org_A": "Acme Corporation"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name\norg_A,Acme\n", "line 1: the header must be exactly organization_id,name"),
        ("", "line 1: the header must be exactly organization_id,name"),
        ("organization_id,name\norg_A,Acme\norg_B\n", "line 3: expected 2 cells"),
        ("organization_id,name\norg_A,Acme,extra\n", "line 2: expected 2 cells"),
        ("organization_id,name\n,Nameless\n", "line 2: the organization_id is empty"),
        ("organization_id,name\norg_A,Acme\norg_A,Other\n", "line 3: org_A is listed twice"),
        (b"organization_id,name\norg_A,Acme\norg_B,\xff\n", "line 3: not UTF-8"),
    ],
    ids=["header", "empty", "one-cell", "three-cells", "empty-id", "twice", "not-utf8"],
)
def test_a_bad_file_names_the_path_and_the_line(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    """Each defect is a ConfigError naming ORG_NAMES_PATH, the file and the line."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_org_names(path)
    assert f"ORG_NAMES_PATH={path}" in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    """A path that does not exist: the path and the fix."""
    with pytest.raises(ConfigError, match=r"cannot read the file .*unset ORG_NAMES_PATH"):
        load_org_names(tmp_path / "nope.csv")


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ORG_NAMES_PATH is a setting; blank means unset."""
    monkeypatch.setenv("ORG_NAMES_PATH", str(tmp_path / "orgs.csv"))
    assert Settings.load().org_names_path == tmp_path / "orgs.csv"
    monkeypatch.setenv("ORG_NAMES_PATH", "  ")
    assert Settings.load().org_names_path is None


def test_grouped_csv_gains_a_name_column_only_with_names() -> None:
    """Without names the header is contract §5's exactly; with them organization_name follows
    organization_id (empty for unmapped and unknown organizations)."""
    summary = Summary(as_of=datetime(2027, 1, 15, tzinfo=UTC), window_start=None)
    summary.groups = {("payment", "org_A"): [2, 1.8e9], ("payment", ""): [1, 1.8e9]}
    assert summary.groups_csv() == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "payment,org_A,2,2027-01-15T08:00:00Z\r\n"
        "payment,,1,2027-01-15T08:00:00Z\r\n"
    )
    assert summary.groups_csv({"org_A": "Acme"}) == (
        "entity_type,organization_id,organization_name,records,latest_processed_at\r\n"
        "payment,org_A,Acme,2,2027-01-15T08:00:00Z\r\n"
        "payment,,,1,2027-01-15T08:00:00Z\r\n"
    )
