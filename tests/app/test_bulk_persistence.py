"""AppTest: a Bulk result survives page switches for the session, and is shareable as a
signed-in-only link (``/bulk?r=<token>``) kept a stated time, bounded in memory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
import redis
from streamlit.testing.v1 import AppTest

from apptest_support import (
    APP,
    NEUTRAL_SECRETS,
    USERNAME,
    make_app,
    metrics,
    no_exception,
    page_text,
)
from redis_server import RedisServer
from telemetry.runs.standin import make_run
from ui import auth as gate
from ui import shared_results
from ui.shared_results import SharedResults

BULK = "pages/bulk.py"
LOOKUP = "pages/lookup.py"
PASTE = "pym_keep1\npym_keep2\npym_gone"
PASSWORD = "correct horse battery staple"  # apptest_support.use_redis's user


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    for name in ("pym_keep1", "pym_keep2"):
        real_redis.set(f"telemetry:payment:{name}", orjson.dumps({"runId": f"run_{name[4:]}"}))
    return real_redis


def reads(server: RedisServer) -> int:
    stats = server.commandstats()
    return sum(stats.get(name, 0) for name in ("mget", "get", "pttl", "type"))


def paste(text: str = PASTE) -> AppTest:
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(text).run()
    no_exception(at)
    return at


def away_and_back(at: AppTest) -> AppTest:
    at.switch_page(LOOKUP)
    at.run()
    no_exception(at)
    at.switch_page(BULK)
    at.run()
    no_exception(at)
    return at


def share(at: AppTest) -> str:
    """Click Share; the token of the link the page shows."""
    at.button(key="bulk_share").click().run()
    no_exception(at)
    links = [c.value for c in at.code if "?r=" in str(c.value)]
    assert len(links) == 1, links
    return re.sub(r".*\?r=", "", links[0])


def other_session(token: str | None = None, *, signed_in: bool = True) -> AppTest:
    """Another browser session of the same server process (no reset of its caches)."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets = dict(NEUTRAL_SECRETS)
    if signed_in:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = USERNAME  # the users file holds one user
        at.session_state["name"] = "Tester"
    at.switch_page(BULK)
    if token is not None:
        at.query_params[shared_results.PARAM] = token
    return at.run()


def test_paste_and_result_survive_bulk_lookup_bulk(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Bulk → Lookup → Bulk shows the same paste and result, without reading Redis again."""
    at = paste()
    shown = metrics(at)
    before = reads(redis_server)
    away_and_back(at)
    assert at.text_area(key="bulk_text").value == PASTE
    assert metrics(at) == shown
    assert list(at.dataframe[0].value["query"]) == ["pym_keep1", "pym_keep2", "pym_gone"]
    assert reads(redis_server) == before


def test_chosen_column_survives_a_page_switch(real: redis.Redis, redis_server: RedisServer) -> None:
    """A column picked for a pasted table stays picked after Lookup → Bulk (no re-resolve)."""
    at = paste("ref,payment\npym_gone,pym_keep1\nx,pym_keep2\n")
    picker = at.selectbox[0]
    picker.set_value("ref").run()
    assert metrics(at)["Found"] == "0"
    before = reads(redis_server)
    away_and_back(at)
    assert at.selectbox[0].value == "ref"
    assert metrics(at)["Found"] == "0"
    assert reads(redis_server) == before


def test_uploaded_file_result_is_kept_and_says_from_which_file(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Streamlit drops an upload when its page is left: the result stays, "from <file>",
    without resolving again; Clear ends it."""
    at = make_app(page=BULK)
    data = b"payment_id,amount\npym_keep1,10\npym_keep2,20\npym_gone,30\n"
    at.file_uploader(key="bulk_file").set_value(("orders.csv", data, "text/csv")).run()
    no_exception(at)
    assert metrics(at)["Found"] == "2"
    before = reads(redis_server)
    away_and_back(at)
    assert not at.file_uploader(key="bulk_file").value
    assert "Showing the result from `orders.csv`" in page_text(at)
    assert metrics(at)["Found"] == "2"
    assert len(at.dataframe[0].value) == 3
    assert reads(redis_server) == before
    at.button(key="bulk_clear").click().run()
    no_exception(at)
    assert not at.dataframe
    assert "Paste IDs or attach a file" in page_text(at)


def test_new_paste_replaces_a_kept_file_result(real: redis.Redis) -> None:
    """Typing new IDs after coming back resolves them, not the file kept from before."""
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value(("a.txt", b"pym_keep1\n", "text/plain")).run()
    away_and_back(at)
    at.text_area(key="bulk_text").input("pym_gone").run()
    no_exception(at)
    assert "Showing the result from" not in page_text(at)
    assert list(at.dataframe[0].value["query"]) == ["pym_gone"]


def test_share_link_opens_the_same_result_for_a_colleague(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Share gives /bulk?r=<token>; another signed-in session sees the same result, who
    shared it and until when, with no Redis read."""
    at = paste()
    token = share(at)
    assert len(token) >= 22  # 128 random bits, URL-safe
    assert "until" in page_text(at)
    before = reads(redis_server)
    colleague = other_session(token)
    no_exception(colleague)
    text = page_text(colleague)
    assert "Shared by **tester**" in text
    assert "3 pasted IDs" in text
    assert metrics(colleague) == metrics(at)
    assert list(colleague.dataframe[0].value["query"]) == ["pym_keep1", "pym_keep2", "pym_gone"]
    assert reads(redis_server) == before
    assert not [b for b in colleague.button if b.key == "bulk_share"]  # not shared on


def test_own_paste_replaces_a_shared_result(real: redis.Redis) -> None:
    """Pasting on a shared link's page resolves the paste and drops ?r= from the URL."""
    token = share(paste())
    colleague = other_session(token)
    colleague.text_area(key="bulk_text").input("pym_keep2").run()
    no_exception(colleague)
    assert shared_results.PARAM not in colleague.query_params
    assert "Shared by" not in page_text(colleague)
    assert list(colleague.dataframe[0].value["query"]) == ["pym_keep2"]


@pytest.mark.parametrize("token", ["not-a-token", "x" * 500, ""])
def test_unknown_share_link_says_so(real: redis.Redis, token: str) -> None:
    """An unknown token: a clear message naming how long links are kept, no result."""
    make_app(page=BULK)  # empties the process's stores
    at = other_session(token)
    no_exception(at)
    text = page_text(at)
    if token:
        assert "expired or is unknown" in text
        assert "kept 24 h" in text
    assert not at.dataframe


def test_expired_share_link_says_so(real: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A link older than 24 h shows the expiry message, not the result."""
    token = share(paste())
    clock = shared_results.STORE.clock
    monkeypatch.setattr(shared_results.STORE, "clock", lambda: clock() + 24 * 3600 + 1)
    at = other_session(token)
    no_exception(at)
    assert "expired or is unknown" in page_text(at)
    assert not at.dataframe


def test_share_link_needs_sign_in_then_lands_on_the_result(
    real: redis.Redis,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Signed out, /bulk?r=<token> shows only the login; after signing in, the result."""
    token = share(paste())
    before = reads(redis_server)
    at = other_session(token, signed_in=False)
    no_exception(at)
    assert at.text_input(key=gate.USERNAME_KEY) is not None
    assert "pym_keep1" not in page_text(at)
    assert not at.dataframe
    at.text_input(key=gate.USERNAME_KEY).input(USERNAME)
    at.text_input(key=gate.PASSWORD_KEY).input(PASSWORD)
    at.button(key=gate.SUBMIT_KEY).click().run()
    no_exception(at)
    assert "Shared by **tester**" in page_text(at)
    assert list(at.dataframe[0].value["query"]) == ["pym_keep1", "pym_keep2", "pym_gone"]
    assert reads(redis_server) == before


# -- the store's bounds -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def store(**kwargs: Any) -> tuple[SharedResults, Clock]:
    clock = Clock()
    return SharedResults(clock=clock, wall=clock, **kwargs), clock


def test_store_keeps_at_most_n_results_oldest_out_first() -> None:
    """Over ``max_entries`` links, the oldest is forgotten."""
    kept, _ = store(max_entries=3, max_rows=1_000)
    tokens = [kept.share(i, rows=1, by="u", label="x").token for i in range(4)]  # type: ignore[union-attr]
    assert [kept.lookup(t) is not None for t in tokens] == [False, True, True, True]


def test_store_bounds_total_rows() -> None:
    """Over ``max_rows`` in all, the oldest links go until the rows fit; the new one stays."""
    kept, _ = store(max_entries=10, max_rows=100)
    a = kept.share("a", rows=60, by="u", label="a")
    b = kept.share("b", rows=30, by="u", label="b")
    c = kept.share("c", rows=50, by="u", label="c")
    assert a is not None and b is not None and c is not None
    assert kept.lookup(a.token) is None
    assert kept.lookup(b.token) is not None and kept.lookup(c.token) is not None
    assert kept.rows == 80
    assert kept.share("huge", rows=101, by="u", label="huge") is None


def test_store_forgets_after_the_stated_time() -> None:
    """A link works for ``KEEP_SECONDS`` and not after; it says when it expires."""
    kept, clock = store()
    shared = kept.share("v", rows=1, by="u", label="x")
    assert shared is not None
    assert shared.expires - shared.created == shared_results.KEEP_SECONDS == 24 * 3600
    clock.now += shared_results.KEEP_SECONDS
    assert kept.lookup(shared.token) is not None
    clock.now += 1
    assert kept.lookup(shared.token) is None


def test_tokens_are_random_and_distinct() -> None:
    """Tokens are 128-bit URL-safe random strings, never reused."""
    kept, _ = store(max_entries=1_000)
    tokens = {kept.share(i, rows=0, by="u", label="x").token for i in range(200)}  # type: ignore[union-attr]
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", t) for t in tokens)


def test_text_edited_beside_an_attached_file_does_not_resolve_it_again(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """With a file attached the pasted text is ignored: editing it reads nothing from Redis."""
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value(("a.txt", b"pym_keep1\n", "text/plain")).run()
    before = reads(redis_server)
    at.text_area(key="bulk_text").input("pym_gone").run()
    no_exception(at)
    assert list(at.dataframe[0].value["query"]) == ["pym_keep1"]
    assert reads(redis_server) == before


def test_shared_result_keeps_its_run_states(real: redis.Redis, trigger_env: Any) -> None:
    """Run state (#14) travels with the shared result: the colleague sees the same run
    statuses, and trigger.dev is not asked again."""
    trigger_env.add(make_run("run_keep1", status="FAILED", error={"message": "declined"}))
    at = paste()
    assert "**Runs:**" in page_text(at)
    token = share(at)
    asked = trigger_env.count()
    colleague = other_session(token)
    no_exception(colleague)
    assert "**Runs:**" in page_text(colleague)
    frame = colleague.dataframe[0].value
    assert [None if pd.isna(s) else s for s in frame["run_status"]] == [
        "FAILED",
        "not_in_environment",
        None,
    ]
    assert frame["run_error"].iloc[0] == "declined"
    assert trigger_env.count() == asked
