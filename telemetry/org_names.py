"""Organization names from ``ORG_NAMES_PATH`` (issue #16): a CSV ``organization_id,name``.

Optional: without the setting every output is exactly as before (IDs only, the
contract's headers). With it, tables, charts and CSVs show the name beside the
ID (CSV: an ``organization_name`` column after ``organization_id``). A bad file
is a ``ConfigError`` naming the path and the line, never a half-read mapping.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError

HEADER = ("organization_id", "name")
MAX_BYTES = 20 * 1024 * 1024


def load_org_names(path: Path | str | None) -> Mapping[str, str] | None:
    """``{organization_id: name}`` from the file at ``path``; None when no path is set.

    Re-read only when the file changes (size or modification time): until then every
    call returns the same read-only mapping, so callers may key caches on it.
    """
    if path is None:
        return None
    path = Path(path)
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ConfigError(
            f"ORG_NAMES_PATH={path}: cannot read the file ({exc.strerror}); fix the path or "
            "unset ORG_NAMES_PATH."
        ) from None
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> Mapping[str, str]:
    del mtime_ns  # part of the cache key only
    where = f"ORG_NAMES_PATH={path}"
    if size > MAX_BYTES:
        raise ConfigError(f"{where}: the file is over {MAX_BYTES // 2**20} MiB.")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the file ({exc.strerror}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{where}, line {line}: not UTF-8; save the file as UTF-8.") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    names: dict[str, str] = {}
    try:
        header = next(rows, None)
        if header is None or tuple(cell.strip() for cell in header) != HEADER:
            raise ConfigError(
                f"{where}, line 1: the header must be exactly organization_id,name "
                f"(got {','.join(header or [])!r})."
            )
        for cells in rows:
            line = rows.line_num
            if not cells or all(not cell.strip() for cell in cells):
                continue
            if len(cells) != 2:
                raise ConfigError(
                    f"{where}, line {line}: expected 2 cells (organization_id,name), "
                    f"got {len(cells)}; quote a name that holds a comma."
                )
            org, name = cells[0].strip(), cells[1].strip()
            if not org:
                raise ConfigError(f"{where}, line {line}: the organization_id is empty.")
            if org in names and names[org] != name:
                raise ConfigError(
                    f"{where}, line {line}: {org} is listed twice with different names."
                )
            names[org] = name
    except csv.Error as exc:
        raise ConfigError(f"{where}, line {rows.line_num}: not valid CSV ({exc}).") from None
    return MappingProxyType(names)
