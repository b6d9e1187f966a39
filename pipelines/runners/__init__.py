"""Engine adapters: each runs ``units.UnitProcessor`` over the plan's work units, nothing more.

``beam`` builds an Apache Beam pipeline (FnApiRunner locally; any runner through standard pipeline
options), ``ray`` a Ray Data pipeline (local ``ray.init()`` or a cluster address), ``local`` a plain
loop in this process (debugging). They share every line of data logic.
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from .. import outputs

ENGINES = ("beam", "ray", "local")


def pending_units(out: str, units: list[str]) -> list[str]:
    return [u for u in units if not os.path.exists(outputs.unit_done_path(out, u))]


def watch_progress(out: str, units: list[str], advance: Callable[[int], None]) -> Callable[[], None]:
    """Poll the completion records in a thread and report how many units are done; returns stop()."""
    stop = threading.Event()

    def poll() -> None:
        while True:
            advance(len(units) - len(pending_units(out, units)))
            if stop.wait(0.5):
                advance(len(units) - len(pending_units(out, units)))
                return

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join()

    return finish


def run_units(engine: str, out: str, units: list[str], workers: int, options: dict) -> None:
    todo = pending_units(out, units)
    if not todo:
        return
    if engine == "beam":
        from .beam import run
    elif engine == "ray":
        from .ray import run
    elif engine == "local":
        from .local import run
    else:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    run(out, todo, workers, options)
