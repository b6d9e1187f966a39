"""A local Beam SDK worker process: Beam's own SDK harness, minus two fixed costs of the interpreter.

The FnApiRunner starts one per worker (``beam.local_runner``). Importing Beam and the pipeline
creates some 280,000 objects that live as long as the process; the cyclic garbage collector
walks them again and again while they are created (~0.2 s of a worker's start-up) and once more
at exit (~0.4 s, and the runner stops its workers one after another). So the collector is paused
during the imports, and what they created is moved out of its sight (``gc.freeze``) after them and
again before exit. Objects made while units run are collected as usual.
"""
from __future__ import annotations

import gc
import sys


def main() -> None:
    gc.disable()
    from apache_beam.runners.worker import sdk_worker_main

    from pipelines.runners import beam  # noqa: F401  (what unpickling the pipeline's DoFn imports anyway)

    gc.freeze()
    gc.enable()
    try:
        sdk_worker_main.main(sys.argv)
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
