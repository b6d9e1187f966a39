"""Process-wide settings, made by the entry points that need them (never by importing a module).

``prefer_system_allocator``: Arrow's default allocator (mimalloc) keeps the pages of planning's
short-lived buffers resident for the rest of a run, more of them the larger the corpus
(bench/README.md, "Memory"); the C library's allocator gives them back. It must be chosen before
pyarrow is imported and is inherited by the processes this one starts, so the ``audioprep`` command
(``pipelines.cli.main``) and the orchestrated steps (``pipelines.workflow``) call it first; engine
workers started from them inherit it. A user's own ``ARROW_DEFAULT_MEMORY_POOL`` is kept.

``pyarrow_without_pandas``: pyarrow's question whether a list is a pandas object, answered once
without importing pandas, in the processes that only ingest or prepare (an ingest pool's, a Ray
worker's).
"""
from __future__ import annotations

import importlib.abc
import os
import sys


def prefer_system_allocator() -> None:
    """``ARROW_DEFAULT_MEMORY_POOL=system`` unless the environment chooses one (before pyarrow is imported)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


class _PandasRefused(importlib.abc.MetaPathFinder):
    """``import pandas`` (or a submodule) fails as if pandas were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused while pyarrow asks for it)", name=name)
        return None


def pyarrow_without_pandas() -> None:
    """On its first conversion of a Python list in a process, pyarrow imports pandas when it is
    installed (an extra such as ``export``'s Hugging Face datasets installs it) to ask whether the list
    is a pandas object: ~0.3 CPU s and tens of MB in every process (bench/README.md), for nothing in a
    process that ingests or prepares. Here pyarrow asks once with pandas refused, and remembers the
    answer; pandas is importable again at once (a plugin reader may use it, and pyarrow's conversions
    to pandas still work once it is imported). For the processes that only run ingest tasks or units
    (an ingest pool's, a Ray worker's); the run's own process is left as it is."""
    if "pandas" in sys.modules:
        return  # imported already: nothing left to save
    import pyarrow as pa

    refused = _PandasRefused()
    sys.meta_path.insert(0, refused)
    try:
        pa.array([])  # the first conversion: pyarrow tries pandas here, once per process
    finally:
        sys.meta_path.remove(refused)
