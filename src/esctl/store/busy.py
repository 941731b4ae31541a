"""How long a store waits for a lock another writer holds, whatever the backend."""

from __future__ import annotations

import os

from esctl.errors import UsageError


def default_busy_timeout() -> float:
    """Return the seconds to wait for a lock: ``ESCTL_BUSY_TIMEOUT``, or 5.

    Raises:
        UsageError: ``ESCTL_BUSY_TIMEOUT`` is not a number of seconds.
    """
    raw = os.environ.get("ESCTL_BUSY_TIMEOUT", "5")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UsageError(
            f"ESCTL_BUSY_TIMEOUT must be a number of seconds, got {raw!r}", hint="e.g. ESCTL_BUSY_TIMEOUT=5"
        )
    return seconds
