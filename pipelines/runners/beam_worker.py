"""A local Beam SDK worker process: Beam's own SDK harness, minus three fixed costs of its start.

The FnApiRunner starts one per worker (``beam.local_runner``). Importing Beam and the pipeline
creates some 280,000 objects that live as long as the process; the cyclic garbage collector
walks them again and again while they are created (~0.2 s of a worker's start-up) and once more
at exit (~0.4 s, and the runner stops its workers one after another). So the collector is paused
during the imports, and what they created is moved out of its sight (``gc.freeze``) after them and
again before exit. Objects made while units run are collected as usual.

Beam's type hints import pandas when it is installed (~0.25 CPU s a process; Ray Data's extra
installs it), to register pandas batch types this pipeline never uses; Beam treats a missing pandas
as optional. While Beam is imported, ``import pandas`` fails in this process as if pandas were not
installed (a finder that refuses it, removed after the imports: never ``sys.modules["pandas"] =
None``, which pyarrow's pandas shim does not survive).
"""
from __future__ import annotations

import gc
import importlib.abc
import sys


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """``import pandas`` (or a submodule) raises ModuleNotFoundError while this is on ``sys.meta_path``."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not imported by an audioprep Beam worker)", name=name)
        return None


def main() -> None:
    gc.disable()
    finder = _WithoutPandas()
    sys.meta_path.insert(0, finder)
    try:
        from apache_beam.runners.worker import sdk_worker_main

        from pipelines.runners import beam  # noqa: F401  (what unpickling the pipeline's DoFn imports anyway)
    finally:
        sys.meta_path.remove(finder)
    gc.freeze()
    gc.enable()
    try:
        sdk_worker_main.main(sys.argv)
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
