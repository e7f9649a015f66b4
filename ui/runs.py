"""Run state in the app (issue #14): the trigger.dev client, its short caches.

Where run state comes from
    ``TRIGGER_SECRET_KEY`` set: the API at ``TRIGGER_API_URL``. Demo mode
    without a key: ``telemetry.runs.demo``'s in-process stand-in, serving runs
    consistent with the demo records. Otherwise the feature is off and
    :func:`client` is None (the pages work as without it).

One HTTP client per process and configuration
    The ``httpx.Client`` (its connection pool) lives in a ``ProcessCache``
    shared by every session; each page run gets its own ``TriggerClient`` over
    it (cheap; that object keeps per-use counters and pacing, and is not
    shared between threads).

Errors
    ``telemetry.runs`` never raises for the API in bulk (``Unavailable`` rows);
    a Lookup's one retrieve turns a ``RunsError`` into an ``Unavailable``
    outcome too, so the Redis answer is always shown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import streamlit as st
from pydantic import SecretStr

from telemetry import RunsError
from telemetry.runs import (
    NOT_IN_ENVIRONMENT,
    RunOutcome,
    TriggerClient,
    Unavailable,
    make_http_client,
)
from telemetry.runs.demo import DEMO_API_URL, DEMO_KEY, demo_standin

from .cache import ProcessCache
from .context import AppContext

# A rerun within this many seconds reuses a Lookup's answer instead of asking again.
LOOKUP_TTL_SECONDS = 30.0
# A failure is reused only briefly: a rerun soon after asks again, a click-storm does not.
FAILURE_TTL_SECONDS = 5.0
# An interactive page does not sit out a long rate-limit reset, a slow API or many
# retries (a script run blocks its session): it says "unavailable" and offers a retry.
PAGE_MAX_WAIT_SECONDS = 20.0
PAGE_READ_TIMEOUT = 8.0
PAGE_MAX_RETRIES = 1


@dataclass(frozen=True, slots=True)
class _Api:
    http: httpx.Client
    base_url: str
    key: SecretStr
    demo: bool


def _close(api: _Api) -> None:
    with contextlib.suppress(Exception):
        api.http.close()


_APIS: ProcessCache[str, _Api] = ProcessCache(
    "trigger.dev clients", max_entries=8, on_release=_close
)
# (configuration, run ID) → (outcome, as-of epoch seconds)
_LOOKUPS: ProcessCache[tuple[str, str], tuple[RunOutcome, float]] = ProcessCache(
    "run lookups", max_entries=2_000, ttl=LOOKUP_TTL_SECONDS
)


def enabled(ctx: AppContext) -> bool:
    """Whether this configuration shows run state (a key, or demo mode)."""
    return ctx.settings.trigger_secret_key is not None or ctx.settings.demo


def is_demo_api(ctx: AppContext) -> bool:
    """Whether run state comes from the demo's stand-in rather than a real API."""
    return ctx.settings.demo and ctx.settings.trigger_secret_key is None


def _demo_records(ctx: AppContext) -> Iterator[tuple[str, str, str, datetime]]:
    for batch in ctx.reader.scan():
        for record in batch.records:
            when = record.facts.processed_at
            if when is None:
                continue
            if not isinstance(when, datetime):
                when = datetime.fromtimestamp(when, tz=UTC)
            yield record.facts.run_id, record.entity_type, record.entity_id, when


def _build(ctx: AppContext) -> _Api:
    settings = ctx.settings
    if settings.trigger_secret_key is not None:
        return _Api(
            make_http_client(settings, read_timeout=PAGE_READ_TIMEOUT),
            settings.trigger_api_url,
            settings.trigger_secret_key,
            False,
        )
    with st.spinner("Generating demo runs…"):
        standin = demo_standin(_demo_records(ctx))
    http = httpx.Client(transport=standin.transport(), timeout=5.0)
    return _Api(http, DEMO_API_URL, SecretStr(DEMO_KEY), True)


def client(
    ctx: AppContext, *, max_wait_seconds: float = PAGE_MAX_WAIT_SECONDS
) -> TriggerClient | None:
    """A ``TriggerClient`` for this page run, or None when run state is off."""
    if not enabled(ctx):
        return None
    api = _APIS.get_or_build(ctx.key, lambda: _build(ctx))
    return TriggerClient(
        api.http,
        base_url=api.base_url,
        key=api.key,
        max_wait_seconds=max_wait_seconds,
        max_retries=PAGE_MAX_RETRIES,
    )


def lookup_state(ctx: AppContext, run_id: str) -> tuple[RunOutcome, float] | None:
    """One run's outcome and when it was learned (epoch s); None when run state is off.

    One retrieve, reused for ``LOOKUP_TTL_SECONDS``. An API failure is an
    ``Unavailable`` outcome, reused for ``FAILURE_TTL_SECONDS`` only.
    """
    cached = _LOOKUPS.get((ctx.key, run_id))
    if cached is not None and (
        not isinstance(cached[0], Unavailable) or time.time() - cached[1] < FAILURE_TTL_SECONDS
    ):
        return cached
    runs = client(ctx)
    if runs is None:
        return None
    as_of = time.time()
    try:
        state = runs.retrieve(run_id)
    except RunsError as exc:
        outcome: RunOutcome = Unavailable(str(exc))
    else:
        outcome = NOT_IN_ENVIRONMENT if state is None else state
    _LOOKUPS.put((ctx.key, run_id), (outcome, as_of))
    return outcome, as_of


def forget(ctx: AppContext, run_id: str) -> None:
    """Drop a Lookup's cached answer: the next run asks trigger.dev again (a refresh button)."""
    _LOOKUPS.pop((ctx.key, run_id))
