"""AppTest: the Lookup page (found, not found, invalid, multi-match, deep links, history)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from apptest_support import (
    NOW,
    dropping_client,
    make_app,
    no_exception,
    page_text,
    put,
    shown,
    use_demo,
    use_redis,
)
from ui import context
from ui.format import record_text, shorten_middle
from ui.lookup_view import HISTORY_LABEL_CHARS

TTL = 1_209_600


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """The app in real mode on the (emptied) session redis-server."""
    return real_redis


def lookup(value: str) -> Any:
    return make_app(query={"id": value})


def test_found_rich_record_shows_run_link_copyable_id_and_details(real: redis.Redis) -> None:
    """A rich record: link button to the run, run ID in a code block, org, UTC time, metadata."""
    stamp = NOW - timedelta(hours=3)
    put(
        real,
        "payment",
        "pym_rich1",
        "run_abc123",
        org="org_9",
        timestamp=stamp,
        metadata={"status": "succeeded", "amount": 4200},
    )
    at = lookup("pym_rich1")
    no_exception(at)
    assert [b.proto.url for b in at.link_button] == ["https://cloud.trigger.dev/runs/run_abc123"]
    assert "run_abc123" in [c.value for c in at.code]
    text = page_text(at)
    assert "`org_9`" in text
    assert stamp.strftime("%Y-%m-%d %H:%M:%S UTC") in text
    assert "3 h ago" in text
    assert "inferred from TTL" not in text
    assert "expires in 13 d" in text
    assert json.loads(at.json[0].value) == {"status": "succeeded", "amount": 4200}


def test_minimal_record_marks_time_inferred_from_ttl_and_unknown_org(real: redis.Redis) -> None:
    """A minimal {"runId"} record: processing time inferred from the TTL and marked so."""
    put(real, "invoice", "inv_min1", "run_min1", rich=False, ttl=TTL - 2 * 86400)
    at = lookup("invoice:inv_min1")
    no_exception(at)
    text = page_text(at)
    assert "inferred from TTL" in text
    assert "2 d ago" in text
    assert "expires in 11 d" in text
    assert "*unknown*" in text


def test_not_found_lists_the_key_checked_and_why(real: redis.Redis) -> None:
    """Not found: the exact key checked, and the two reasons (never processed, expired)."""
    at = lookup("pym_nothere")
    no_exception(at)
    assert "telemetry:payment:pym_nothere" in [c.value for c in at.code]
    text = page_text(at)
    assert "Not found:" in text
    assert "Never processed" in text
    assert "Expired" in text and "14 d" in text
    assert not at.link_button


def test_unknown_prefix_not_found_lists_every_type_key(real: redis.Redis) -> None:
    """An ID with no known prefix is checked under every entity type; all keys are listed."""
    at = lookup("zzz_1")
    no_exception(at)
    keys = at.code[0].value.splitlines()
    assert "telemetry:payment:zzz_1" in keys
    assert "telemetry:notification:zzz_1" in keys
    assert len(keys) == 9


def test_invalid_record_shows_escaped_raw_value_and_reason(real: redis.Redis) -> None:
    """A non-JSON value: the reason, and the raw value as code (never as Markdown/HTML)."""
    raw = "<script>alert(1)</script> **bold** [x](javascript:y)"
    real.set("telemetry:payment:pym_bad1", raw, ex=TTL)
    at = lookup("pym_bad1")
    no_exception(at)
    assert raw in [c.value for c in at.code]
    assert "value is not JSON" in page_text(at)
    markdown = "\n".join(m.value for m in (*at.markdown, *at.error, *at.caption))
    assert "<script>" not in markdown
    assert "**bold**" not in markdown


def test_wrong_type_key_is_an_invalid_record(real: redis.Redis) -> None:
    """A key holding a hash is reported as an invalid record, not a crash."""
    real.hset("telemetry:payment:pym_hash1", "runId", "run_x")
    at = lookup("pym_hash1")
    no_exception(at)
    assert "holds a Redis hash" in page_text(at)


def test_unknown_prefix_matching_several_types_shows_each_match(real: redis.Redis) -> None:
    """An unprefixed ID found under two entity types shows both runs."""
    put(real, "notification", "shared_1", "run_note1", org="org_a")
    put(real, "customer", "shared_1", "run_cust1", org="org_b")
    at = lookup("shared_1")
    no_exception(at)
    urls = sorted(b.proto.url for b in at.link_button)
    assert urls == [
        "https://cloud.trigger.dev/runs/run_cust1",
        "https://cloud.trigger.dev/runs/run_note1",
    ]
    assert "2 entity types" in page_text(at)


def test_a_pasted_list_looks_up_the_first_and_points_to_bulk(real: redis.Redis) -> None:
    """Several IDs in the Lookup input: the first is looked up, with a hint to use Bulk."""
    put(real, "payment", "pym_first", "run_first")
    at = lookup("pym_first, pym_second")
    no_exception(at)
    assert at.link_button[0].proto.url.endswith("/run_first")
    assert "Only the first ID is looked up" in page_text(at)


def test_invalid_id_is_explained(real: redis.Redis) -> None:
    """Input that is not an ID (non-ASCII) gets the reason, no lookup result."""
    at = lookup("pym_☃")
    no_exception(at)
    assert "Not an ID" in page_text(at)
    assert "non-ASCII" in page_text(at)


def test_deep_link_query_param_resolves_and_typing_updates(real: redis.Redis) -> None:
    """?id=… fills the input and resolves at once; a new ID typed and Enter resolves it."""
    put(real, "payment", "pym_link1", "run_link1")
    put(real, "invoice", "inv_link2", "run_link2")
    at = lookup("pym_link1")
    assert at.text_input(key="id").value == "pym_link1"
    assert at.link_button[0].proto.url.endswith("/run_link1")
    at.text_input(key="id").input("inv_link2").run()
    no_exception(at)
    assert at.link_button[0].proto.url.endswith("/run_link2")


def test_history_lists_lookups_and_reruns_one_on_click(real: redis.Redis) -> None:
    """The session's lookups are listed newest first; picking one looks it up again and
    updates the URL."""
    put(real, "payment", "pym_h1", "run_h1")
    at = lookup("pym_h1")
    at.text_input(key="id").input("pym_h2missing").run()
    history = at.pills(key="lookup_history_pick")
    assert history.options == ["pym\\_h2missing", "pym\\_h1"]  # icons apart: outcome
    history.set_value(":material/check_circle: pym\\_h1").run()
    no_exception(at)
    assert at.text_input(key="id").value == "pym_h1"
    assert at.query_params.get("id") in ("pym_h1", ["pym_h1"])
    assert at.link_button[0].proto.url.endswith("/run_h1")
    assert at.pills(key="lookup_history_pick").value is None  # the pick is cleared


def test_history_shortens_long_ids_but_reruns_the_whole_one(real: redis.Redis) -> None:
    """A long ID's pill is cut in the middle to fit the side column; picking it looks up
    the whole ID."""
    long_id = "pym_" + "L" * 30 + "end"
    put(real, "payment", long_id, "run_long1")
    at = lookup(long_id)
    at.text_input(key="id").input("pym_other").run()
    history = at.pills(key="lookup_history_pick")
    assert history.proto.wrap  # the side column is narrow: the pills wrap, never scroll
    label = "pym\\_" + "L" * 5 + "…" + "L" * 5 + "end"  # 18 characters: what fits
    assert label.replace("\\", "") == shorten_middle(long_id, HISTORY_LABEL_CHARS)
    assert history.options == ["pym\\_other", label]
    history.set_value(":material/check_circle: " + label).run()
    no_exception(at)
    assert at.text_input(key="id").value == long_id
    assert at.link_button[0].proto.url.endswith("/run_long1")


def test_page_edge_shows_redis_failure_with_retry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Redis answering PING but failing the lookup: an error and Retry, never a traceback."""

    use_redis(monkeypatch, tmp_path, "redis://reader:hunter2@127.0.0.1:1/0")
    monkeypatch.setattr(context, "client_factory", lambda settings: dropping_client(ok_pipelines=0))
    at = lookup("pym_1")
    no_exception(at)
    errors = "\n".join(shown(e.value) for e in at.error)
    assert "Cannot reach Redis" in errors
    assert "redis://reader:***@127.0.0.1:1/0" in errors
    assert "hunter2" not in page_text(at)
    assert any(b.label == "Retry" for b in at.button)


def test_demo_examples_can_be_clicked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo mode offers example IDs; picking one looks it up and finds its run."""
    use_demo(monkeypatch)
    at = make_app()
    no_exception(at)
    examples = at.pills(key="lookup_example_pick")
    assert len(examples.options) >= 4
    assert examples.options[0] == "payment"
    examples.set_value("payment").run()
    no_exception(at)
    assert at.text_input(key="id").value.startswith("pym_")
    assert at.link_button
    assert "Found" in page_text(at)


# -- record data is shown as its exact text (issue #12, item 7) ---------------------------
# Each holds what Streamlit's Markdown would turn into a link, an emoji, an icon, an image,
# formatting or a typographic arrow (tests/app/test_record_text.py lists them one by one).
HOSTILE_ID = "pym_:smile:www.evil.example/x:material/warning:a@b.co"
HOSTILE_ORG = "<http://evil> :red[alert] **bold** [x](http://y) ![i](http://y/p.png) $x^2$"
HOSTILE_STAMP = "www.evil.example :+1: -> :streamlit:"
HOSTILE_CLAIM = "mailto:a@b.c :material_home: <b>html</b>"
HOSTILE_METADATA = {
    "www.example.com": "http://evil.example/x",
    ":smile:": ":material/warning: `code` # heading",
}


def markdown_bodies(at: Any) -> list[str]:
    """The Markdown source of every Markdown-rendered element and label on the page."""
    bodies = [
        e.value
        for kind in ("markdown", "caption", "error", "warning", "info")
        for e in at.get(kind)
    ]
    bodies += [b.label for b in at.link_button]
    bodies += [option for pills in at.get("button_group") for option in pills.options]
    return bodies


def test_hostile_found_record_is_shown_as_exact_text(real: redis.Redis) -> None:
    """Entity ID, organization, notes and metadata of a hostile record reach the page escaped."""
    key = f"telemetry:payment:{HOSTILE_ID}"
    record = {
        "runId": "run_hostile1",
        "entityType": "payment",
        "entityId": HOSTILE_CLAIM,
        "organizationId": HOSTILE_ORG,
        "timestamp": HOSTILE_STAMP,
        "metadata": HOSTILE_METADATA,
    }
    real.set(key, json.dumps(record), ex=TTL)
    at = lookup(HOSTILE_ID)
    no_exception(at)
    assert [b.proto.url for b in at.link_button] == ["https://cloud.trigger.dev/runs/run_hostile1"]
    heading = next(m for m in at.markdown if m.value.startswith("#### "))
    assert heading.value.endswith(f"`payment` {record_text(HOSTILE_ID, code=True)}")
    assert heading.proto.hide_anchors  # no #anchor link named after the entity ID
    facts = next(m.value for m in at.markdown if m.value.startswith("**Entity**"))
    assert f"**Entity** `payment` {record_text(HOSTILE_ID, code=True)}" in facts
    assert f"**Organization** {record_text(HOSTILE_ORG, code=True)}" in facts
    assert f"**Key** {record_text(key, code=True)}" in facts
    notes = f"timestamp {HOSTILE_STAMP!r} is not a date; record says entityId={HOSTILE_CLAIM!r}"
    assert f"Notes: {record_text(notes)}]]" in facts
    assert json.loads(at.json[0].value) == HOSTILE_METADATA  # st.json: not Markdown
    history = at.pills(key="lookup_history_pick")
    label = record_text(shorten_middle(HOSTILE_ID, HISTORY_LABEL_CHARS))
    assert history.options == [label]
    for body in markdown_bodies(at):  # Streamlit rewrites :material/ even inside code spans
        assert ":material/warning:" not in body


def test_hostile_invalid_record_and_not_found_queries_are_shown_as_exact_text(
    real: redis.Redis,
) -> None:
    """An invalid record's key and raw value, and a query that is not found, reach the page
    escaped; the raw value is shown whole as code."""
    entity_id = "pym_bad:material/warning:www.x.io"
    raw = f"<b>html</b> :smile: www.example.com [x](http://y) $x^2$ -> a@b.co {HOSTILE_ORG}"
    real.set(f"telemetry:payment:{entity_id}", raw, ex=TTL)
    at = lookup(entity_id)
    no_exception(at)
    key = record_text(f"telemetry:payment:{entity_id}", code=True)
    assert [e.value for e in at.error] == [
        f"**Invalid record** at {key} — {record_text('value is not JSON')}"
    ]
    assert [c.value for c in at.code] == [raw]

    missing = "pym_gone:material/warning::smile:"
    at.text_input(key="id").input(missing).run()
    no_exception(at)
    assert at.warning[0].value == f"**Not found:** {record_text(missing, code=True)}"
    assert at.pills(key="lookup_history_pick").options == [
        record_text(shorten_middle(text, HISTORY_LABEL_CHARS)) for text in (missing, entity_id)
    ]
    for body in markdown_bodies(at):
        assert ":material/warning:" not in body
