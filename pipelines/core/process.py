"""Process-wide settings, made by the entry points that need them (never by importing a module).

``prefer_system_allocator``: Arrow's default allocator (mimalloc) keeps the pages of planning's
short-lived buffers resident for the rest of a run, more of them the larger the corpus
(bench/README.md, "Memory"); the C library's allocator gives them back. It must be chosen before
pyarrow is imported and is inherited by the processes this one starts, so the ``audioprep`` command
(``pipelines.cli.main``) and the orchestrated steps (``pipelines.workflow``) call it first; engine
workers started from them inherit it. A user's own ``ARROW_DEFAULT_MEMORY_POOL`` is kept.
"""
from __future__ import annotations

import os


def prefer_system_allocator() -> None:
    """``ARROW_DEFAULT_MEMORY_POOL=system`` unless the environment chooses one (before pyarrow is imported)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
