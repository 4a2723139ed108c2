"""Errors a user can fix, raised by library code and turned into one line and exit 2 by ``benchmark.cli``.

Why a module of its own: library code must not call ``SystemExit`` (a caller such as a test or a
notebook loses control), and the CLI must catch these without importing the heavy modules that raise
them (Optuna, torch).
"""

from __future__ import annotations


class SweepError(RuntimeError):
    """A sweep that cannot start or resume as asked; the message names the fix."""
