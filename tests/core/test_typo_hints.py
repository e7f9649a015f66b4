"""Typos get a specific hint, never a silent rewrite: the row stays what was pasted, looked up
as pasted, and its detail says what looks wrong and the likely fix."""

from __future__ import annotations

import fakeredis
import pytest

from clocks import NOW, FrozenClock
from telemetry.config import Settings
from telemetry.ids import hint_in, parse_ids, typo_hint, with_hint
from telemetry.models import Status
from telemetry.reader import TelemetryReader
from telemetry.registry import EntityRegistry

REGISTRY = EntityRegistry()
BODY = "aZ3" * 7  # 21 base62 characters: the usual body


@pytest.mark.parametrize(
    ("entity_id", "entity_type", "hint"),
    [
        (
            f"pmy_{BODY}",
            None,
            f"looks like a typo: the prefix pmy_ is one slip from pym_ (payment); "
            f"did you mean pym_{BODY}?",
        ),
        (
            f"pm_{BODY}",
            None,
            f"looks like a typo: the prefix pm_ is one slip from pym_ (payment); "
            f"did you mean pym_{BODY}?",
        ),
        (
            f"inv-{BODY}",
            None,
            f"looks like a typo: '-' where invoice IDs have '_' (inv_); did you mean inv_{BODY}?",
        ),
        (
            f"pym{BODY}",
            None,
            f"looks like a typo: no '_' after pym (payment IDs start pym_); "
            f"did you mean pym_{BODY}?",
        ),
        (
            f"billing_rn_{BODY}",
            None,
            f"looks like a typo: the prefix billing_rn_ is one slip from billing_run_ "
            f"(billing_run); did you mean billing_run_{BODY}?",
        ),
        (
            f"pym_{BODY[:19]}",
            "payment",
            "looks 2 characters short (payment IDs usually have 21 after pym_, this has 19): "
            "was the end cut off when copying?",
        ),
        (
            f"pym_{BODY}x",
            "payment",
            "looks 1 character too long (payment IDs usually have 21 after pym_, this has 22): "
            "were characters pasted onto it?",
        ),
        # Nothing looks wrong: no hint, no invented fact.
        (f"pym_{BODY}", "payment", ""),
        ("pym_1", "payment", ""),  # far from 21: another format, not a copy slip
        (f"ntf_{BODY}", None, ""),  # an unknown prefix nowhere near a known one
        (f"-pym_{BODY}", None, ""),  # a leading symbol: not a typo of a prefix
        (f"pymt{BODY[:5]}", None, ""),  # no '_' and a short body: not a pym_ ID
        (f"payment_{BODY}", None, ""),
    ],
)
def test_typo_hint(entity_id: str, entity_type: str | None, hint: str) -> None:
    """What looks wrong and the likely fix, for a near prefix or a body of the wrong length."""
    assert typo_hint(entity_id, entity_type, REGISTRY) == hint


def test_hint_round_trips_through_the_detail() -> None:
    """with_hint appends a hint that hint_in finds again; a detail without one gives ''."""
    detail = "unknown ID prefix; checked 9 entity types (…): none found"
    hint = typo_hint(f"pmy_{BODY}", None, REGISTRY)
    assert hint_in(with_hint(detail, hint)) == hint
    assert with_hint(detail, "") == detail
    assert hint_in(detail) == ""


@pytest.fixture
def reader(server_clock: FrozenClock) -> TelemetryReader:
    return TelemetryReader(fakeredis.FakeRedis(), Settings.load(), clock=lambda: NOW)


def test_not_found_rows_carry_the_hint(reader: TelemetryReader) -> None:
    """A transposed prefix and a short body are looked up as pasted: not_found, the query
    unchanged, the hint after the usual reason."""
    text = f"pmy_{BODY} pym_{BODY[:19]} pym_{BODY}"
    results = reader.resolve(parse_ids(text, REGISTRY).queries).results
    assert [(r.query, r.status, r.entity_id) for r in results] == [
        (f"pmy_{BODY}", Status.NOT_FOUND, f"pmy_{BODY}"),
        (f"pym_{BODY[:19]}", Status.NOT_FOUND, f"pym_{BODY[:19]}"),
        (f"pym_{BODY}", Status.NOT_FOUND, f"pym_{BODY}"),
    ]
    transposed, short, fine = (r.detail for r in results)
    assert transposed == (
        "unknown ID prefix; checked 9 entity types (payment, invoice, billing_run, "
        "billing_period, subscription, organization, webhook, customer, notification) under "
        f"telemetry:<type>:pmy_{BODY}: none found; looks like a typo: the prefix pmy_ is one "
        f"slip from pym_ (payment); did you mean pym_{BODY}?"
    )
    assert short == (
        f"no key telemetry:payment:pym_{BODY[:19]}: never processed, or expired after the "
        "14 d TTL; looks 2 characters short (payment IDs usually have 21 after pym_, this has "
        "19): was the end cut off when copying?"
    )
    assert hint_in(fine) == ""


def test_found_ids_get_no_hint(reader: TelemetryReader) -> None:
    """An ID that exists is never second-guessed, whatever its length."""
    reader.store.client.set(f"telemetry:payment:pym_{BODY[:19]}", b'{"runId": "run_1"}')
    (result,) = reader.resolve(parse_ids(f"pym_{BODY[:19]}", REGISTRY).queries).results
    assert result.status is Status.FOUND
    assert "looks" not in result.detail
