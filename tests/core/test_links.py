"""Dashboard links (contract §3): only ``^run_[A-Za-z0-9]+$`` becomes a link, URL-encoded."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from telemetry.config import DEFAULT_RUN_URL_TEMPLATE
from telemetry.links import DEFAULT_MAX_URL_LENGTH, is_linkable, run_url, runs_list_urls

LIST_TEMPLATE = "https://cloud.trigger.dev/orgs/ORG/projects/PROJECT/env/prod/runs?{run_ids}"


@pytest.mark.parametrize(
    ("run_id", "linkable"),
    [
        ("run_cm4x2k9p10002l70gt3xkq1rz", True),
        ("run_ABCdef123", True),
        ("run_0", True),
        ("run_", False),
        ("run", False),
        ("RUN_abc", False),
        ("xrun_abc", False),
        ("run_abc-def", False),
        ("run_abc_def", False),
        ("run_abc def", False),
        ("run_abc\n", False),
        ("run_abc/../../admin", False),
        ("run_abc?x=1", False),
        ("run_abc#frag", False),
        ("run_abc%2F", False),
        ("run_\u00e9t\u00e9", False),
        ("run_\uff41", False),
        ("javascript:alert(1)", False),
        ("", False),
        (None, False),
        (42, False),
        (["run_abc"], False),
    ],
    ids=[
        "cuid",
        "mixed-case-and-digits",
        "one-char",
        "empty-suffix",
        "no-underscore",
        "uppercase-prefix",
        "prefix-not-at-start",
        "dash",
        "second-underscore",
        "space",
        "trailing-newline",
        "path-traversal",
        "query",
        "fragment",
        "percent",
        "accented-letters",
        "fullwidth-letter",
        "javascript-url",
        "empty",
        "none",
        "number",
        "list",
    ],
)
def test_is_linkable_and_run_url(run_id: object, linkable: bool) -> None:
    """A run ID gets a URL exactly when it matches ^run_[A-Za-z0-9]+$ (ASCII, full match)."""
    assert is_linkable(run_id) is linkable
    url = run_url(run_id, DEFAULT_RUN_URL_TEMPLATE)
    if linkable:
        assert url == f"https://cloud.trigger.dev/runs/{run_id}"
    else:
        assert url is None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (DEFAULT_RUN_URL_TEMPLATE, "https://cloud.trigger.dev/runs/run_abc123"),
        (
            "https://cloud.trigger.dev/orgs/ORG/projects/PROJECT/env/prod/runs/{run_id}",
            "https://cloud.trigger.dev/orgs/ORG/projects/PROJECT/env/prod/runs/run_abc123",
        ),
        (
            "https://trigger.internal:3030/runs/{run_id}",
            "https://trigger.internal:3030/runs/run_abc123",
        ),
        ("https://x/runs/{run_id}?again={run_id}", "https://x/runs/run_abc123?again=run_abc123"),
    ],
    ids=["default", "org-project-template", "self-hosted", "placeholder-twice"],
)
def test_run_url_templates(template: str, expected: str) -> None:
    """run_url substitutes the run ID into the configured template (every occurrence)."""
    assert run_url("run_abc123", template) == expected


def test_run_url_encodes_the_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_url URL-encodes the ID with no safe characters (defence in depth behind the regex)."""
    import telemetry.links as links

    # Widen the rule to see the encoding step on its own.
    monkeypatch.setattr(links, "RUN_ID_RE", re.compile(r"^run_.+$"))
    assert run_url("run_a/b c&d", "https://x/runs/{run_id}") == "https://x/runs/run_a%2Fb%20c%26d"


def test_runs_list_urls_single_url_with_every_run_in_order() -> None:
    """Few runs: one URL whose {run_ids} is runId=a&runId=b..., in input order."""
    urls = runs_list_urls(["run_b", "run_a", "run_c"], LIST_TEMPLATE)
    assert urls == [
        "https://cloud.trigger.dev/orgs/ORG/projects/PROJECT/env/prod/runs?"
        "runId=run_b&runId=run_a&runId=run_c"
    ]


def test_runs_list_urls_dedupes_and_skips_unlinkable() -> None:
    """Repeated run IDs appear once; IDs that fail the link rule are left out."""
    urls = runs_list_urls(
        ["run_a", "run_b", "run_a", "run_x/../y", "not-a-run", "", "run_b", "run_c"],
        "https://x/runs?{run_ids}",
    )
    assert urls == ["https://x/runs?runId=run_a&runId=run_b&runId=run_c"]


@pytest.mark.parametrize(
    "run_ids",
    [[], ["bad id"], ["javascript:alert(1)", "run_"]],
    ids=["empty", "one-unlinkable", "only-unlinkable"],
)
def test_runs_list_urls_nothing_linkable_gives_no_url(run_ids: list[str]) -> None:
    """Without a single linkable run, there is no runs-list URL at all."""
    assert runs_list_urls(run_ids, LIST_TEMPLATE) == []


@pytest.mark.parametrize(
    "max_length",
    [60, 100, 333, DEFAULT_MAX_URL_LENGTH],
    ids=["tiny", "small", "odd", "default"],
)
def test_runs_list_urls_chunks_by_length(max_length: int) -> None:
    """Each URL fits max_length, chunks are greedy, and together they hold every run once."""
    run_ids = [f"run_{i:026d}" for i in range(200)]
    template = "https://x/runs?{run_ids}"
    urls = runs_list_urls(run_ids, template, max_length=max_length)
    assert all(len(url) <= max_length for url in urls)
    chunks = [parse_qs(urlsplit(url).query)["runId"] for url in urls]
    assert [run for chunk in chunks for run in chunk] == run_ids
    # Greedy: the next chunk's first run would not have fit in the previous URL.
    for url, following in zip(urls, chunks[1:], strict=False):
        assert len(url) + len("&runId=") + len(following[0]) > max_length


def test_runs_list_urls_default_length_fits_about_sixty_runs() -> None:
    """With the default 2,000-char limit, 26-char run IDs pack ~60 per URL (exact split checked)."""
    run_ids = [f"run_{i:026d}" for i in range(150)]
    urls = runs_list_urls(run_ids, LIST_TEMPLATE)
    base = len(LIST_TEMPLATE) - len("{run_ids}")
    per_url = (DEFAULT_MAX_URL_LENGTH - base + 1) // len("&runId=run_" + "0" * 26)
    assert [len(parse_qs(urlsplit(u).query)["runId"]) for u in urls] == [
        per_url,
        per_url,
        150 - 2 * per_url,
    ]
    assert 50 <= per_url <= 70


def test_runs_list_urls_oversized_single_run_still_gets_a_url() -> None:
    """A run whose parameter alone exceeds max_length is still put in a URL of its own."""
    long_id = "run_" + "a" * 100
    urls = runs_list_urls(["run_a", long_id, "run_b"], "https://x/r?{run_ids}", max_length=40)
    assert urls == [
        "https://x/r?runId=run_a",
        f"https://x/r?runId={long_id}",
        "https://x/r?runId=run_b",
    ]
