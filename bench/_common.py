"""Helpers shared by the ``bench/*.py`` scripts.

The scripts run as ``.venv/bin/python bench/<script>.py``, which puts this folder on ``sys.path``
(and spawned children inherit it), so they import this module as ``_common``.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
