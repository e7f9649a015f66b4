"""ID parsing's fast paths parse exactly as the general token loop does.

The plain-lines fast path (one ID per line) and the prefix matcher (a head table
standing in for ``EntityRegistry.match``) are private helpers of
``telemetry.ids``; these tests name them on purpose, to compare each with the
general code it stands in for, case by case and on any plain text.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from telemetry import ids
from telemetry.ids import Query, parse_ids
from telemetry.registry import EntityRegistry

REGISTRY = EntityRegistry()


def _general_parse(text: str, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(ids, "_plain_lines", lambda text: None)
        return parse_ids(text, REGISTRY, **kwargs)


PLAIN_TEXTS = {
    "column": "pym_aaa\ninv_bbb\nbilling_run_ccc\n",
    "no trailing newline": "pym_aaa\ninv_bbb",
    "blank lines and duplicates": "\n\npym_aaa\n\npym_aaa\ninv_bbb\n\npym_aaa\n\n",
    "CRLF line ends": "pym_aaa\r\ninv_bbb\r\n",
    "unknown prefixes and hyphens": "ntf-1\nabc_DEF_123\n42\n-pym_x\n",
    "one ID": "pym_aaa",
    "empty": "",
    "only line breaks": "\n\n\n",
    "header word first": "payment_id\npym_aaa\npym_bbb\n",
    "token too long": "pym_aaa\n" + "x" * 300 + "\n" + "x" * 300 + "\n",
    "just at the length limit": "y" * 256 + "\npym_aaa\n",
    "not plain: spaces": "pym_aaa inv_bbb\npym_ccc\n",
    "not plain: quotes and commas": '"pym_aaa",\n"inv_bbb",\n',
    "not plain: explicit type": "payment:pym_aaa\npym_aaa\n",
    "not plain: non-ASCII": "pym_aaa\nрym_bbb\n",
}


@pytest.mark.parametrize("text", PLAIN_TEXTS.values(), ids=PLAIN_TEXTS.keys())
def test_plain_lines_parse_like_the_token_loop(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paste taken by the plain-lines fast path parses exactly as through the token loop."""
    fast = parse_ids(text, REGISTRY)
    general = _general_parse(text, monkeypatch)
    assert fast == general
    assert [type(query) for query in fast.queries] == [Query] * len(fast.queries)


def test_plain_lines_take_the_usual_paste() -> None:
    """One ID per line is what the fast path takes (so the test above compares both paths)."""
    assert ids._plain_lines("pym_aaa\ninv_bbb\npym_aaa\n") == (
        [Query("pym_aaa", "pym_aaa", None), Query("inv_bbb", "inv_bbb", None)],
        3,
    )
    assert ids._plain_lines("pym_aaa inv_bbb") is None


def test_query_is_an_immutable_value() -> None:
    """Query keeps its fields, defaults, equality and immutability as a named tuple."""
    query = Query("payment:pym_1", "pym_1", "payment")
    assert (query.text, query.entity_id, query.entity_type, query.error) == (
        "payment:pym_1",
        "pym_1",
        "payment",
        "",
    )
    assert query == Query("payment:pym_1", "pym_1", "payment", "")
    assert repr(query) == (
        "Query(text='payment:pym_1', entity_id='pym_1', entity_type='payment', error='', kind='')"
    )
    with pytest.raises(AttributeError):
        query.text = "x"  # type: ignore[misc]


REGISTRIES = {
    "default": None,
    "overlapping prefixes": {"a": ["inv_"], "b": ["inv_x_"], "c": ["in"], "d": ["invoice_"]},
    "one type, no prefix": {"notification": []},
    "single-character prefix": {"x": ["x"], "y": ["xy_"], "z": ["zzz_"]},
    "prefix-free, no underscores": {"x": ["ab"], "y": ["cd_e"], "z": ["zz_"]},
}
MATCH_IDS = [
    "pym_1",
    "inv_1",
    "inv_x_1",
    "inv_x",
    "invoice_1",
    "in",
    "i",
    "",
    "billing_run_1",
    "billing_period_1",
    "billing_1",
    "event_1",
    "webhook_1",
    "x",
    "xy_1",
    "xz",
    "zzz_1",
    "zz",
    "ntf_1",
    "PYM_1",
    "ab_1",
    "abc",
    "cd_e_1",
    "cd_ex",
    "cd_",
    "zz_a_b",
    "pym_a_b",
    "billing_run_x_y",
    "_",
]


@pytest.mark.parametrize("types", REGISTRIES.values(), ids=REGISTRIES.keys())
def test_prefix_matcher_is_registry_match(types: dict[str, list[str]] | None) -> None:
    """The head-table matcher (and its inlined direct table) answers as registry.match."""
    registry = EntityRegistry(types)
    match = ids._prefix_matcher(registry)
    direct, shortest = match.direct, match.shortest  # type: ignore[attr-defined]
    exact = match.exact  # type: ignore[attr-defined]
    for entity_id in MATCH_IDS:
        expected = registry.match(entity_id)
        assert match(entity_id) == expected, entity_id
        assert (direct.get(entity_id[:shortest]) or match(entity_id)) == expected
        guess = entity_id[: entity_id.rfind("_") + 1]
        assert (exact.get(guess) or match(entity_id)) == expected, entity_id


@given(
    st.lists(
        st.text(alphabet="\n-_0123456789abcpymyinvBILNG_run", max_size=30).map(
            lambda s: s.replace("pymy", "pym_")
        ),
        max_size=40,
    ).map("\n".join)
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_plain_lines_match_the_token_loop_on_any_plain_text(text: str) -> None:
    """Any text of ID characters and line breaks parses the same through either path."""
    general = ids._plain_lines
    try:
        ids._plain_lines = lambda text: None  # type: ignore[assignment]
        slow = parse_ids(text, REGISTRY)
    finally:
        ids._plain_lines = general  # type: ignore[assignment]
    assert parse_ids(text, REGISTRY) == slow
