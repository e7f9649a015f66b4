"""The Redis side's module layout: no import cycles, and the cluster store on the base only.

Read from the source (every ``import``, function-level ones included), so a
lazy import that closes a loop counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import redis

from telemetry.config import Settings
from telemetry.store import ClusterStore, SingleStore, Store

PACKAGE = Path(__file__).resolve().parents[2] / "telemetry"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            target = node.module or ""
            if node.level:
                target = f"{base}.{node.module}" if node.module else base
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        found.update(t for t in targets if t in modules and t != module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            loop = [*trail[trail.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(loop))
        if module in done:
            return
        for dependency in sorted(graph[module]):
            visit(dependency, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_cluster_store_depends_on_the_base_only() -> None:
    """And on the one shim that reaches past redis-py's public API (which imports none)."""
    graph = _graph()

    def store_modules(module: str) -> set[str]:
        return {m for m in graph[module] if m.startswith("telemetry.store")}

    assert store_modules("telemetry.store.cluster") == {
        "telemetry.store.base",
        "telemetry.store._redis_internals",
    }
    assert store_modules("telemetry.store.single") == {"telemetry.store.base"}
    assert store_modules("telemetry.store._redis_internals") == set()


def test_redis_internals_stay_in_the_shim() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.name != "_redis_internals.py":
            text = path.read_text()
            assert "nodes_manager" not in text and "slots_cache" not in text, path


def test_for_client_without_a_cluster_client_is_a_single_store() -> None:
    """Anything but a ``RedisCluster`` (a client, a wrapper, a fake) gets the single-node
    store; test_cluster.py checks that a cluster client gets a ``ClusterStore``."""
    settings = Settings.load()
    assert type(Store.for_client(redis.Redis(), settings)) is SingleStore  # lazy: sends nothing
    assert type(Store.for_client(object(), settings)) is SingleStore
    assert not issubclass(SingleStore, ClusterStore)
    with pytest.raises(TypeError, match="abstract"):
        Store(redis.Redis(), settings)  # type: ignore[abstract]  # the protocol, not a store
