"""Entity types and the ID prefixes that identify them.

Prefixes may contain ``_`` (``billing_run_``), so an ID is matched against the
longest known prefix, never split on its first underscore.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .errors import ConfigError

ENTITY_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_ENTITY_TYPES: dict[str, tuple[str, ...]] = {
    "payment": ("pym_",),
    "invoice": ("inv_",),
    "billing_run": ("billing_run_",),
    "billing_period": ("billing_period_",),
    "subscription": ("sub_",),
    "organization": ("org_",),
    "webhook": ("event_", "webhook_"),
    "customer": ("cust_",),
    "notification": (),
}


class EntityRegistry:
    """Which entity types exist and which ID prefixes belong to each."""

    __slots__ = ("_prefixes", "_types")

    def __init__(self, types: Mapping[str, Iterable[str]] | None = None) -> None:
        types = DEFAULT_ENTITY_TYPES if types is None else types
        if not types:
            raise ConfigError("The entity-type registry is empty: give at least one entity type.")
        self._types: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}
        for name, prefixes in types.items():
            if not ENTITY_TYPE_RE.match(name):
                raise ConfigError(
                    f"Entity type {name!r} is not lower snake case ([a-z][a-z0-9_]*); rename it."
                )
            prefixes = tuple(prefixes)
            for prefix in prefixes:
                if not prefix or ":" in prefix:
                    raise ConfigError(
                        f"ID prefix {prefix!r} of entity type {name!r} must be non-empty "
                        "and contain no ':'."
                    )
                if prefix in owner:
                    raise ConfigError(
                        f"ID prefix {prefix!r} is claimed by both {owner[prefix]!r} and {name!r}."
                    )
                owner[prefix] = name
            self._types[name] = prefixes
        # Longest first, so the first startswith() hit is the longest match.
        self._prefixes: tuple[tuple[str, str], ...] = tuple(
            sorted(owner.items(), key=lambda item: len(item[0]), reverse=True)
        )

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self._types)

    def prefixes(self, entity_type: str) -> tuple[str, ...]:
        return self._types.get(entity_type, ())

    def __contains__(self, entity_type: object) -> bool:
        return entity_type in self._types

    def match(self, entity_id: str) -> str | None:
        """The entity type whose longest prefix starts ``entity_id``, or None."""
        for prefix, entity_type in self._prefixes:
            if entity_id.startswith(prefix):
                return entity_type
        return None

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(prefixes) for name, prefixes in self._types.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntityRegistry) and self._types == other._types

    def __hash__(self) -> int:
        return hash(tuple(self._types.items()))

    def __repr__(self) -> str:
        return f"EntityRegistry({self.as_dict()!r})"
