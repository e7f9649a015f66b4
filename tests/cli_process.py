"""``python -m telemetry`` as a user runs it: a subprocess in the repository root.

The CLI tests, the fault tests, the bad-input tests and the end-to-end Redis
tests all start the real module this way, so they prove what a user sees: exit
status, stdout and stderr, with no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def python_m(
    *args: str,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    text: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """``python -m telemetry ARGS``: ``stdin`` is fed whole, then end of file.

    ``env`` is added to this process' environment (which conftest.py has
    cleaned of the developer's settings); a hang fails the test through
    ``timeout``. Output is bytes, or text with ``text=True``.
    """
    return subprocess.run(
        [sys.executable, "-m", "telemetry", *args],
        cwd=ROOT,
        input=stdin.decode() if text else stdin,
        capture_output=True,
        text=text,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
