"""AppTest: the Bulk table as a person reads it — whole run IDs, no repeated Entity ID, empty
cells empty, a Lookup link per row — and no setup hints on the work surface."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pyarrow as pa
import pytest
import redis

from apptest_support import make_app, no_exception

BULK = "pages/bulk.py"
RUN = "run_zR0123456789abcdefghijKLM"  # a full-length run ID


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    real_redis.set(
        "telemetry:payment:pym_g1",
        orjson.dumps({"runId": RUN, "timestamp": "2026-11-20T10:15:00.250Z"}),
    )
    real_redis.set("telemetry:invoice:inv_g2", orjson.dumps({"runId": "run_g2"}))
    real_redis.set("telemetry:notification:odd&id#1", orjson.dumps({"runId": "run_g3"}))
    return real_redis


def paste(text: str) -> Any:
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(text).run()
    no_exception(at)
    return at


def sent(at: Any) -> pa.Table:
    """The Arrow table the browser receives for the page's dataframe."""
    return pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.data).read_all()


def config(at: Any) -> dict[str, Any]:
    return json.loads(at.dataframe[0].proto.columns)


def test_run_column_has_a_fixed_width_for_whole_run_ids(real: redis.Redis) -> None:
    """The Run column's width is set, not sized from the first (here: not found) rows."""
    at = paste("\n".join([f"pym_none{i}" for i in range(30)] + ["pym_g1"]))
    assert config(at)["run"]["width"] >= 260
    assert sent(at)["run"].to_pylist()[-1].endswith(RUN)


def test_entity_id_hidden_when_it_always_equals_the_query(real: redis.Redis) -> None:
    """Bare IDs: Entity ID would repeat Query on every row, so it is not sent or shown."""
    at = paste("pym_g1\ninv_g2\npym_none")
    assert "entity_id" not in sent(at).column_names
    assert "entity_id" not in at.dataframe[0].proto.column_order


def test_entity_id_only_where_it_differs(real: redis.Redis) -> None:
    """Mixed shapes: Entity ID is shown, filled only where the query was not the bare ID."""
    at = paste("pym_g1\ninvoice:inv_g2\n`pym_none`")
    table = sent(at)
    assert table["query"].to_pylist() == ["pym_g1", "invoice:inv_g2", "pym_none"]
    assert table["entity_id"].to_pylist() == [None, "inv_g2", None]
    assert "entity_id" in at.dataframe[0].proto.column_order


def test_empty_cells_are_empty_not_none(real: redis.Redis) -> None:
    """A missing value is drawn empty (the grid's placeholder; its default is "None"), in
    the Redis and the time columns alike."""
    at = paste("pym_g1\ninv_g2\npym_none\npayment:")
    assert at.dataframe[0].proto.placeholder == ""
    table = sent(at)
    assert table["organization_id"].null_count == 4
    assert table["processed_at"].null_count == 3
    assert config(at)["processed_at"]["type_config"]["type"] == "datetime"


def test_each_row_links_to_its_lookup(real: redis.Redis) -> None:
    """A Lookup link per row with an entity (that row's type:ID, URL-escaped); none for an
    invalid ID."""
    at = paste("pym_g1\ninvoice:inv_g2\npym_none\nodd&id#1\npayment:")
    assert sent(at)["lookup"].to_pylist() == [
        "./?id=payment:pym_g1",
        "./?id=invoice:inv_g2",
        "./?id=payment:pym_none",
        "./?id=notification:odd%26id%231",
        None,
    ]
    lookup = config(at)["lookup"]
    assert lookup["type_config"] == {"type": "link", "display_text": "Open"}
    order = list(at.dataframe[0].proto.column_order)
    assert order[:2] == ["query", "lookup"]


def test_no_setup_hint_on_the_bulk_page(real: redis.Redis) -> None:
    """Found runs without RUNS_LIST_URL_TEMPLATE: the page says nothing about the setting
    (admins find it in the sidebar)."""
    at = paste("pym_g1\ninv_g2")
    main = "\n".join(str(e.value) for e in at.main if hasattr(e, "value"))
    assert "RUNS_LIST_URL_TEMPLATE" not in main
    setup = [e for e in at.sidebar.expander if e.label == "Admin: setup"]
    assert "RUNS_LIST_URL_TEMPLATE" in "\n".join(str(m.value) for m in setup[0].markdown)
