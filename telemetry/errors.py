"""The exceptions the library raises on purpose.

Every message names the bad value and the fix, so the edges (pages, CLI) can
show ``str(exc)`` as it is and never need a traceback.
"""

from __future__ import annotations


class TelemetryError(Exception):
    """Base class: an expected failure with a message fit for a user."""


class ConfigError(TelemetryError):
    """A setting is missing or malformed."""


class StoreUnavailableError(TelemetryError):
    """Redis cannot be reached or answered with an error we cannot work around.

    ``url`` is always the redacted form: it is safe to print.
    """

    def __init__(self, message: str, *, url: str = "", hint: str = "") -> None:
        self.url = url
        self.hint = hint
        parts = [message]
        if url:
            parts.append(f"(Redis at {url})")
        if hint:
            parts.append(f"— {hint}")
        super().__init__(" ".join(parts))


class PartialFetchError(StoreUnavailableError):
    """Some keys of a read could not be read (a Redis Cluster node failed); the rest were.

    ``values``/``pttls`` are the whole read in input order (None / -2 for a
    failed key); ``failed`` maps each failed key to the reason. A caller that
    does not know this class sees a ``StoreUnavailableError``.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        hint: str = "",
        values: list | None = None,
        pttls: list | None = None,
        failed: dict | None = None,
    ) -> None:
        super().__init__(message, url=url, hint=hint)
        self.values = values or []
        self.pttls = pttls or []
        self.failed = failed or {}


class InputTooLargeError(TelemetryError):
    """More IDs (or bytes) were pasted than one request handles."""

    def __init__(self, message: str, *, count: int = 0, limit: int = 0) -> None:
        self.count = count
        self.limit = limit
        super().__init__(message)


class InputFormatError(TelemetryError):
    """Input that cannot be read as text or as a table (binary, bad column)."""


class RunsError(TelemetryError):
    """Run state could not be learned from trigger.dev (contract §6).

    Messages never hold the secret key: only the API's redacted URL, the run
    ID, the HTTP status and what to do.
    """


class RunsUnavailableError(RunsError):
    """The API is down, slow, answered 5xx, or kept answering 429 past the retries."""


class RunsAuthError(RunsError):
    """TRIGGER_SECRET_KEY was refused (401) or may not do this (403)."""


class RunsDataError(RunsError):
    """The API answered what TRIGGER_API.md does not describe (not JSON, a field's type)."""
