"""Process-level settings for dozor's long-running services."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Call once the long-lived data is loaded (analyzer caches, compiled rules).

    A service keeps large caches for its whole life; CPython's cyclic collector would walk them
    again and again as short-lived documents come and go. Freezing moves everything alive now
    out of the collector's sight (``gc.freeze``) without disabling collection of what follows.
    """
    gc.collect()
    gc.freeze()
