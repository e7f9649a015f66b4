"""AppTest: Bulk and Lookup on what ops really paste (issue #15 items 2, 3, 5): a Slack message's
words are set aside, never "missing"; a run ID or run URL lists the entities pointing to it; a
typo gets a hint."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from apptest_support import (
    capture_downloads,
    download_bytes,
    make_app,
    metrics,
    no_exception,
    page_text,
    put,
)

BULK = "pages/bulk.py"
BODY = "aZ3" * 7
SLACK = (
    "@here can someone check these? • pym_found1 • pym_gone1 • pym_gone2 thanks! 🙏\n"
    "also • inv_gone3 :pray:"
)
WORDS = ["@here", "can", "someone", "check", "these?", "•", "thanks!", "🙏", "also", ":pray:"]
RUN_URL = "https://cloud.trigger.dev/orgs/acme/projects/billing/env/prod/runs/run_shared?span=1"


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """Real mode; one payment found alone, two entities processed by run_shared."""
    put(real_redis, "payment", "pym_found1", "run_alone")
    put(real_redis, "payment", "pym_batch1", "run_shared")
    put(real_redis, "invoice", "inv_batch1", "run_shared", org="org_7")
    return real_redis


def paste(text: str) -> Any:
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(text).run()
    no_exception(at)
    return at


def test_slack_message_sets_words_aside(real: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack message: 3 not found (not 13), the 10 words set aside and listed, and neither
    the copy block nor the not-found download holds a word."""
    downloads = capture_downloads(monkeypatch)
    at = paste(SLACK)
    assert metrics(at) == {
        "Pasted": "4",
        "Unique": "4",
        "Duplicates dropped": "0",
        "Found": "1",
        "Not found": "3",
        "Invalid": "0",
        "Set aside": "10",
    }
    (aside,) = [e for e in at.expander if e.label.startswith("Set aside (10)")]
    assert [c.value for c in aside.code] == [" ".join(WORDS)]
    missing = "pym_gone1\npym_gone2\ninv_gone3"
    (copy,) = [e for e in at.expander if e.label.startswith("Copy missing IDs")]
    assert copy.label == "Copy missing IDs (3)"
    assert [c.value for c in copy.code] == [missing]
    assert download_bytes(downloads, "run-lookup-not-found.txt") == (missing + "\n").encode()


def test_pasted_run_url_lists_its_entities(real: redis.Redis) -> None:
    """A run URL (and a run ID no record points to) in Bulk: one found row per entity pointing
    to the run, the query as pasted; the unknown run is not found with the reason."""
    at = paste(f"{RUN_URL}\nrun_nobody")
    table = at.dataframe[0].value
    # An empty cell (None, NaN or "") is the table's business: compare the IDs only.
    entity_ids = [e if isinstance(e, str) else "" for e in table["entity_id"]]
    assert list(zip(table["query"], table["status"], entity_ids, strict=True)) == [
        (RUN_URL, "found", "inv_batch1"),
        (RUN_URL, "found", "pym_batch1"),
        ("run_nobody", "not_found", ""),
    ]
    assert metrics(at)["Found"] == "2"
    assert "no record in the namespace points to run_nobody" in table["detail"][2]


def test_lookup_of_a_run_id_lists_its_entities(real: redis.Redis) -> None:
    """Lookup of a run ID shows every entity whose record points to it, each with its facts."""
    at = make_app(query={"id": "run_shared"})
    no_exception(at)
    text = page_text(at)
    assert "2 entities point" in text
    assert "`inv_batch1`" in text and "`pym_batch1`" in text
    assert "`org_7`" in text


def test_lookup_of_a_word_is_not_looked_up(real: redis.Redis) -> None:
    """A word in Lookup says it is not an ID, and what to paste instead."""
    at = make_app(query={"id": "thanks"})
    no_exception(at)
    assert "Not looked up:" in page_text(at)
    assert not at.warning  # no "Not found"


def test_lookup_typo_hint(real: redis.Redis) -> None:
    """A transposed prefix: not found, with what looks wrong and the likely ID."""
    at = make_app(query={"id": f"pmy_{BODY}"})
    no_exception(at)
    text = page_text(at)
    assert "Not found:" in text
    assert f"did you mean pym_{BODY}?" in text


def test_lookup_of_a_run_is_not_rescanned_on_rerun(real: redis.Redis) -> None:
    """A rerun of the page (any click) reuses the run's entities for a while: no new scan."""
    at = make_app(query={"id": "run_shared"})
    put(real, "payment", "pym_batch2", "run_shared")  # would make 3 if scanned again
    at.run()
    no_exception(at)
    assert "2 entities point" in page_text(at)
