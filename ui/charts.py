"""The app's charts: altair specs, compiled once to Vega-Lite for the pages to render.

Only the Summary page draws charts today. A chart is built when its view is
built (and cached with it, see ``ui.summary_view``), so a rerun with a warm cache
only hands Streamlit a ready spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from telemetry import Summary

from .tables import arrow_bytes, org_label

TOP_ORGS = 15  # organizations in the "top organizations" bar chart


@dataclass(frozen=True, slots=True)
class Compiled:
    """An altair chart compiled once: its Vega-Lite spec and its data as Arrow bytes.

    ``st.altair_chart`` would validate and serialise the chart on every rerun
    (tens of ms for three charts); a cached view renders from this instead.
    """

    spec: dict[str, Any]
    datasets: dict[str, bytes]

    @classmethod
    def of(cls, chart: alt.Chart) -> Compiled:
        spec = chart.to_dict()
        datasets = {
            str(name): arrow_bytes(pd.DataFrame(rows))
            for name, rows in spec.pop("datasets", {}).items()
        }
        return cls(spec, datasets)

    def render(self) -> None:
        # Streamlit moves "datasets" out of the spec it is given: hand it a fresh top level.
        st.vega_lite_chart(spec={**self.spec, "datasets": dict(self.datasets)}, width="stretch")


@dataclass(frozen=True, slots=True)
class SummaryCharts:
    by_type: Compiled | None  # None: nothing to draw
    top_orgs: Compiled | None
    hourly: Compiled | None


def summary_charts(summary: Summary) -> SummaryCharts:
    """Records by entity type, the busiest organizations, and records per hour by type."""
    by_type = summary.by_type.most_common()
    by_org = summary.by_org.most_common()[:TOP_ORGS]
    hours = sorted(summary.hourly.items())
    type_frame = pd.DataFrame(
        {"entity_type": [t for t, _ in by_type], "records": [n for _, n in by_type]}
    )
    org_frame = pd.DataFrame(
        {"organization": [org_label(o) for o, _ in by_org], "records": [n for _, n in by_org]}
    )
    hourly_frame = pd.DataFrame(
        {
            "hour": pd.to_datetime([h for (h, _), _ in hours], unit="s", utc=True),
            "entity_type": [t for (_, t), _ in hours],
            "records": [n for _, n in hours],
        }
    )
    return SummaryCharts(
        by_type=Compiled.of(_bar(type_frame, "entity_type", "Entity type")) if by_type else None,
        top_orgs=Compiled.of(_bar(org_frame, "organization", "Organization")) if by_org else None,
        hourly=Compiled.of(_hourly(hourly_frame)) if hours else None,
    )


def _bar(frame: pd.DataFrame, field: str, title: str) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("records:Q", title="Records"),
            y=alt.Y(
                f"{field}:N",
                sort="-x",
                title=None,
                axis=alt.Axis(labelLimit=260, labelOverlap=False),
            ),
            tooltip=[alt.Tooltip(f"{field}:N", title=title), alt.Tooltip("records:Q", format=",")],
        )
        .properties(height=alt.Step(24))
    )


def _hourly(frame: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("utcyearmonthdatehours(hour):T", title="Hour (UTC)"),
            y=alt.Y("sum(records):Q", title="Records", stack="zero"),
            color=alt.Color("entity_type:N", title="Entity type"),
            tooltip=[
                alt.Tooltip("utcyearmonthdatehours(hour):T", title="Hour (UTC)"),
                alt.Tooltip("entity_type:N", title="Entity type"),
                alt.Tooltip("sum(records):Q", title="Records", format=","),
            ],
        )
        .properties(height=260)
    )
