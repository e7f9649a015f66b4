"""The app's charts: altair specs, compiled once to Vega-Lite for the pages to render.

Only the Summary page draws charts today. A chart is built when its view is
built (and cached with it, see ``ui.summary_view``), so a rerun with a warm cache
only hands Streamlit a ready spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from telemetry import Summary

from .format import record_text
from .tables import arrow_bytes, org_text

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
    def of(cls, chart: alt.Chart | alt.FacetChart) -> Compiled:
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
    top_orgs: Compiled | None  # known organizations only: records without one are a figure
    over_time: Compiled | None  # small multiples, one per entity type
    orgs_title: str  # Markdown, true under any filter: never "Top 1 organizations"


def orgs_title(known: int, first: str = "") -> str:
    """The organization chart's title for ``known`` organizations in the view, as Markdown
    (``first``, an organization from the records, is exact text)."""
    if known == 0:
        return "Organizations"
    if known == 1:
        return f"Records of {record_text(first, code=True)}"
    if known <= TOP_ORGS:
        return f"Records by organization (all {known})"
    return f"Top {TOP_ORGS} of {known:,} organizations by records"


def summary_charts(summary: Summary, names: Mapping[str, str] | None = None) -> SummaryCharts:
    """Records by entity type, the busiest organizations, and records per time bucket
    (hour up to 48 h, day beyond: ``summary.bucket_seconds``) by type."""
    by_type = summary.by_type.most_common()
    known = [(org, n) for org, n in summary.by_org.most_common() if org]
    by_org = known[:TOP_ORGS]
    buckets = sorted(summary.over_time.items())
    type_frame = pd.DataFrame(
        {"entity_type": [t for t, _ in by_type], "records": [n for _, n in by_type]}
    )
    org_frame = pd.DataFrame(
        {"organization": [org_text(o, names) for o, _ in by_org], "records": [n for _, n in by_org]}
    )
    time_frame = pd.DataFrame(
        {
            "bucket": pd.to_datetime([b for (b, _), _ in buckets], unit="s", utc=True),
            "entity_type": [t for (_, t), _ in buckets],
            "records": [n for _, n in buckets],
        }
    )
    daily = summary.bucket_seconds >= 86400
    return SummaryCharts(
        by_type=Compiled.of(_bar(type_frame, "entity_type", "Entity type")) if by_type else None,
        top_orgs=Compiled.of(_bar(org_frame, "organization", "Organization")) if by_org else None,
        over_time=(
            Compiled.of(_small_multiples(time_frame, [t for t, _ in by_type], daily=daily))
            if buckets
            else None
        ),
        orgs_title=orgs_title(len(known), org_text(known[0][0], names) if known else ""),
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


def _small_multiples(frame: pd.DataFrame, order: list[str], *, daily: bool) -> alt.FacetChart:
    """One small bar chart per entity type (busiest first), three a row, each with its own
    scale: nine types read apart, where nine stacked colours did not."""
    unit = "utcyearmonthdate" if daily else "utcyearmonthdatehours"
    label = "Day (UTC)" if daily else "Hour (UTC)"
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{unit}(bucket):T", title=label),
            y=alt.Y("sum(records):Q", title="Records"),
            tooltip=[
                alt.Tooltip(f"{unit}(bucket):T", title=label),
                alt.Tooltip("entity_type:N", title="Entity type"),
                alt.Tooltip("sum(records):Q", title="Records", format=","),
            ],
        )
        .properties(width=220, height=110)
        .facet(facet=alt.Facet("entity_type:N", title=None, sort=order), columns=3)
        .resolve_scale(y="independent")
    )
