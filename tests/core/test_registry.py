"""Entity types and ID prefixes (contract §2): longest prefix wins, configurable, validated."""

from __future__ import annotations

import pytest

from telemetry.errors import ConfigError
from telemetry.registry import DEFAULT_ENTITY_TYPES, EntityRegistry

CONTRACT_TABLE = {
    "payment": ("pym_",),
    "invoice": ("inv_",),
    "billing_run": ("billing_run_",),
    "billing_period": ("billing_period_",),
    "subscription": ("sub_",),
    "organization": ("org_",),
    "webhook": ("event_", "webhook_"),
    "customer": ("cust_",),
    "notification": (),
}


def test_default_registry_is_the_contract_table() -> None:
    """The default registry holds exactly the contract's entity types and prefixes, in order."""
    assert DEFAULT_ENTITY_TYPES == CONTRACT_TABLE
    registry = EntityRegistry()
    assert registry.types == tuple(CONTRACT_TABLE)
    assert registry.as_dict() == {name: list(p) for name, p in CONTRACT_TABLE.items()}


@pytest.mark.parametrize(
    ("entity_id", "expected"),
    [
        ("pym_3kTz9QwErTyUiOpAsDfGh", "payment"),
        ("inv_1", "invoice"),
        ("billing_run_abc", "billing_run"),
        ("billing_period_abc", "billing_period"),
        ("sub_1", "subscription"),
        ("org_1", "organization"),
        ("event_1", "webhook"),
        ("webhook_1", "webhook"),
        ("cust_1", "customer"),
        ("ntf_1", None),
        ("billing_1", None),
        ("pym", None),
        ("PYM_1", None),
        ("xpym_1", None),
        ("", None),
    ],
    ids=[
        "payment",
        "invoice",
        "billing-run-not-split-on-first-underscore",
        "billing-period",
        "subscription",
        "organization",
        "webhook-event-prefix",
        "webhook-webhook-prefix",
        "customer",
        "notification-has-no-prefix",
        "billing-alone-is-unknown",
        "prefix-without-underscore",
        "case-sensitive",
        "prefix-must-be-at-start",
        "empty",
    ],
)
def test_match_default_registry(entity_id: str, expected: str | None) -> None:
    """match() maps an ID to the entity type of its prefix, or None for an unknown prefix."""
    assert EntityRegistry().match(entity_id) == expected


@pytest.mark.parametrize(
    ("entity_id", "expected"),
    [
        ("billing_run_abc", "billing_run"),
        ("bill_abc", "bill"),
        ("billing_period_abc", "billing_period"),
        ("billing_abc", None),
    ],
    ids=["longest-wins", "short-prefix-alone", "sibling-long-prefix", "neither"],
)
def test_longest_prefix_wins_over_shorter_overlapping_prefix(
    entity_id: str, expected: str | None
) -> None:
    """With a hypothetical ``bill_`` registered, ``billing_run_`` IDs still match billing_run."""
    # "bill" registered *after* and *before* the long ones must not matter: try both orders.
    for types in (
        {"bill": ["bill_"], "billing_run": ["billing_run_"], "billing_period": ["billing_period_"]},
        {"billing_run": ["billing_run_"], "billing_period": ["billing_period_"], "bill": ["bill_"]},
    ):
        assert EntityRegistry(types).match(entity_id) == expected


def test_longest_prefix_with_nested_prefixes() -> None:
    """Nested prefixes (``a_`` < ``a_b_`` < ``a_b_c_``): the longest one an ID starts with wins."""
    registry = EntityRegistry({"short": ["a_"], "longer": ["a_b_"], "longest": ["a_b_c_"]})
    assert [registry.match(x) for x in ("a_1", "a_b_1", "a_b_c_1", "a_c_1")] == [
        "short",
        "longer",
        "longest",
        "short",
    ]


def test_webhook_has_two_prefixes() -> None:
    """prefixes() returns every prefix of a type; a type without prefixes returns ()."""
    registry = EntityRegistry()
    assert registry.prefixes("webhook") == ("event_", "webhook_")
    assert registry.prefixes("notification") == ()
    assert registry.prefixes("not_a_type") == ()


def test_contains_and_custom_registry() -> None:
    """A configured registry replaces the default: only its types are known."""
    registry = EntityRegistry({"widget": ["wid_"], "gadget": []})
    assert registry.types == ("widget", "gadget")
    assert "widget" in registry
    assert "payment" not in registry
    assert registry.match("wid_1") == "widget"
    assert registry.match("pym_1") is None


def test_equality_and_hash_follow_the_table() -> None:
    """Two registries built from the same table are equal and hash alike; others differ."""
    a = EntityRegistry({"payment": ["pym_"]})
    b = EntityRegistry({"payment": ("pym_",)})
    c = EntityRegistry({"payment": ["pay_"]})
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert a != {"payment": ["pym_"]}
    assert repr(a) == "EntityRegistry({'payment': ['pym_']})"


@pytest.mark.parametrize(
    ("types", "message_part"),
    [
        ({}, "registry is empty"),
        ({"Payment": ["pym_"]}, "'Payment' is not lower snake case"),
        ({"pay-ment": ["pym_"]}, "'pay-ment' is not lower snake case"),
        ({"1payment": ["pym_"]}, "'1payment' is not lower snake case"),
        ({"payment": [""]}, "ID prefix '' of entity type 'payment' must be non-empty"),
        ({"payment": ["pym:"]}, "ID prefix 'pym:' of entity type 'payment'"),
        (
            {"payment": ["pym_"], "charge": ["pym_"]},
            "ID prefix 'pym_' is claimed by both 'payment' and 'charge'",
        ),
    ],
    ids=[
        "empty",
        "uppercase",
        "dash",
        "leading-digit",
        "empty-prefix",
        "colon-in-prefix",
        "prefix-claimed-twice",
    ],
)
def test_bad_registry_raises_config_error(types: dict[str, list[str]], message_part: str) -> None:
    """A malformed registry raises ConfigError whose message names the bad type or prefix."""
    with pytest.raises(ConfigError) as info:
        EntityRegistry(types)
    assert message_part in str(info.value)
