"""AppTest: where run state comes from — the admin hint in the sidebar, the key unseen."""

from __future__ import annotations

import pytest
import redis

from apptest_support import make_app, no_exception, raw_text, use_demo

HINT = "Run state is off"


def toasts(at) -> list[str]:
    return [str(t.value) for t in at.toast]


def sidebar(at) -> str:
    return "\n".join(str(e.value) for e in at.sidebar if hasattr(e, "value"))


def test_no_key_hint_is_in_the_sidebar_not_on_pages(real_redis: redis.Redis) -> None:
    """Without TRIGGER_SECRET_KEY (real Redis) the setup hint is in the sidebar's Admin: setup
    expander only: no toast or caption on any page's work surface."""
    at = make_app()
    no_exception(at)
    for page in ("pages/bulk.py", "pages/summary.py", "pages/lookup.py"):
        at.switch_page(page)
        at.run()
        no_exception(at)
        assert not any(HINT in t for t in toasts(at)), page
        main = "\n".join(str(e.value) for e in at.main if hasattr(e, "value"))
        assert "TRIGGER_SECRET_KEY" not in main, page
        assert "RUNS_LIST_URL_TEMPLATE" not in main, page
    assert "run state off" in sidebar(at)
    setup = [e for e in at.sidebar.expander if e.label == "Admin: setup"]
    assert len(setup) == 1
    hints = "\n".join(str(m.value) for m in setup[0].markdown)
    assert "`TRIGGER_SECRET_KEY`" in hints
    assert "`RUNS_LIST_URL_TEMPLATE`" in hints


def test_key_set_no_hint_and_key_never_shown(real_redis: redis.Redis, trigger_env) -> None:
    """With a key, no hint; the sidebar names the API (redacted), never the key."""
    at = make_app()
    no_exception(at)
    assert not any(HINT in t for t in toasts(at))
    assert "run state from" in sidebar(at)
    assert trigger_env.url in sidebar(at)
    assert trigger_env.key not in raw_text(at)
    assert trigger_env.count() == 0  # the shell asks the API nothing by itself


def test_demo_mode_uses_demo_runs_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo mode without a key: no hint, run state from the demo's own runs."""
    use_demo(monkeypatch)
    at = make_app()
    no_exception(at)
    assert not any(HINT in t for t in toasts(at))
    assert "run state from demo runs" in sidebar(at)
