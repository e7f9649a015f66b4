"""Redis key format: ``{namespace}:{entity_type}:{entity_id}``.

The entity ID is everything after the type's colon: IDs may contain ``:``.
"""

from __future__ import annotations

from typing import NamedTuple

from .registry import ENTITY_TYPE_RE

DEFAULT_NAMESPACE = "telemetry"


class KeyParts(NamedTuple):
    entity_type: str
    entity_id: str


def make_key(namespace: str, entity_type: str, entity_id: str) -> str:
    return f"{namespace}:{entity_type}:{entity_id}"


def parse_key(key: str | bytes, namespace: str = DEFAULT_NAMESPACE) -> KeyParts | None:
    """Split a key into type and ID; None when it is not a well-formed key of ``namespace``.

    Only the first two colons after the namespace split; an unknown but
    well-formed entity type is returned as it is.
    """
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    head = namespace + ":"
    if not key.startswith(head):
        return None
    entity_type, sep, entity_id = key[len(head) :].partition(":")
    if not sep or not entity_id or not ENTITY_TYPE_RE.match(entity_type):
        return None
    return KeyParts(entity_type, entity_id)


def scan_pattern(namespace: str) -> str:
    """A SCAN MATCH pattern for every key of ``namespace``, glob characters escaped."""
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in namespace)
    return escaped + ":*"
