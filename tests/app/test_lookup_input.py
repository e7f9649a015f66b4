"""AppTest: Lookup keeps the clean ID, not the raw paste — in the box, the URL, the history
and the copy link; a URL it did not write (Back, a deep link) sets the box."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import redis

from apptest_support import make_app, no_exception, page_text, put
from ui.format import record_text, shorten_middle
from ui.lookup_view import HISTORY_LABEL_CHARS

BULK = "pages/bulk.py"
LOOKUP = "pages/lookup.py"
SEVERAL = "Only the first ID is looked up here"


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    put(real_redis, "payment", "pym_clean1", "run_clean1")
    put(real_redis, "payment", "pym_clean2", "run_clean2")
    return real_redis


def url_id(at: Any) -> str | None:
    value = at.query_params.get("id")
    return value[-1] if isinstance(value, list) else value


def history(at: Any) -> list[str]:
    return list(at.pills(key="lookup_history_pick").options)


def label(entity: str) -> str:
    """A history pill's label for ``entity`` (outcome icon apart)."""
    return record_text(shorten_middle(entity, HISTORY_LABEL_CHARS))


def copy_link(at: Any) -> str:
    """The link the Copy link button copies (its data-copy attribute)."""
    for node in at.get("html"):
        found = re.search(r'data-copy="([^"]*)"', node.proto.body)
        if found:
            return html.unescape(found.group(1))
    raise AssertionError("no Copy link button")


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ('"payment:pym_clean1",', "payment:pym_clean1"),
        ("`pym_clean1`", "pym_clean1"),
        ("  pym_clean1 ;", "pym_clean1"),
        ("'telemetry:payment:pym_clean1'", "telemetry:payment:pym_clean1"),
        ("hey, can you check pym_clean1 ?", "pym_clean1"),  # words around it: set aside
    ],
)
def test_typed_paste_is_cleaned_in_box_url_and_history(
    real: redis.Redis, typed: str, clean: str
) -> None:
    """A raw paste becomes the clean ID (the same lookup) in the box, the URL and the history."""
    at = make_app(page=LOOKUP)
    at.text_input(key="id").input(typed).run()
    no_exception(at)
    assert at.text_input(key="id").value == clean
    assert url_id(at) == clean
    assert at.link_button[0].proto.url.endswith("/run_clean1")
    assert history(at) == [label(clean)]
    assert SEVERAL not in page_text(at)


def test_raw_deep_link_is_cleaned(real: redis.Redis) -> None:
    """A shared ?id= holding the raw paste shows the clean ID in the box and the URL."""
    at = make_app(query={"id": '"payment:pym_clean1",'})
    no_exception(at)
    assert at.text_input(key="id").value == "payment:pym_clean1"
    assert url_id(at) == "payment:pym_clean1"
    assert at.link_button[0].proto.url.endswith("/run_clean1")


def test_two_ids_look_up_and_label_the_first(real: redis.Redis) -> None:
    """Two IDs pasted together: the first is looked up, the box and history hold only it."""
    at = make_app(page=LOOKUP)
    at.text_input(key="id").input("pym_clean2 pym_clean1").run()
    no_exception(at)
    assert at.text_input(key="id").value == "pym_clean2"
    assert history(at) == [label("pym_clean2")]
    assert at.link_button[0].proto.url.endswith("/run_clean2")
    assert SEVERAL in page_text(at)


def test_url_changed_by_back_sets_the_box(real: redis.Redis) -> None:
    """Back restores the previous ?id= and reruns (what the browser does): the box and the
    result follow the URL, and the history does not duplicate it."""
    at = make_app(page=LOOKUP)
    at.text_input(key="id").input("pym_clean1").run()
    at.text_input(key="id").input("pym_clean2").run()
    assert url_id(at) == "pym_clean2"
    at.query_params["id"] = "pym_clean1"  # the browser's Back
    at.run()
    no_exception(at)
    assert at.text_input(key="id").value == "pym_clean1"
    assert at.link_button[0].proto.url.endswith("/run_clean1")
    assert history(at) == [label("pym_clean1"), label("pym_clean2")]
    del at.query_params["id"]  # Back to the empty page
    at.run()
    assert at.text_input(key="id").value == ""
    assert not at.link_button


def test_copy_link_holds_the_clean_lookup_link(real: redis.Redis) -> None:
    """The Copy link button copies this lookup's ?id= link with the clean ID, escaped."""
    at = make_app(page=LOOKUP)
    assert not [n for n in at.get("html") if "data-copy" in n.proto.body]  # nothing to copy
    at.text_input(key="id").input('"payment:pym_clean1",').run()
    assert copy_link(at).endswith("?id=payment%3Apym_clean1")


def test_last_lookup_survives_a_page_switch(real: redis.Redis) -> None:
    """Lookup → Bulk → Lookup shows the last lookup again (box, URL and result)."""
    at = make_app(page=LOOKUP)
    at.text_input(key="id").input("pym_clean1").run()
    at.switch_page(BULK)
    at.run()
    at.switch_page(LOOKUP)
    at.query_params.clear()
    at.run()
    no_exception(at)
    assert at.text_input(key="id").value == "pym_clean1"
    assert url_id(at) == "pym_clean1"
    assert at.link_button[0].proto.url.endswith("/run_clean1")
