"""``kind: plugin``: the escape hatch, a Python reader named by import path in the schema.

For a layout the schema language cannot express. ``reader: "package.module:function"`` is called
as ``function(options, root)`` and must yield ``Row`` or ``Drop`` in a deterministic order; the rest
of the schema (derive, joins, record templates, tasks) applies to its rows as to any other reader's.
"""
from __future__ import annotations

import importlib
from typing import Iterator

from pipelines.core.record import Drop

from pipelines.ingest.layouts import Row


class PluginError(ImportError):
    pass


def load_reader(spec: str):
    module_name, _, function = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"plugin reader {spec!r}: cannot import {module_name!r} ({exc})") from None
    reader = getattr(module, function, None)
    if not callable(reader):
        raise PluginError(f"plugin reader {spec!r}: {module_name} has no function {function!r}")
    return reader


def read(layout, root: str) -> Iterator[Row | Drop]:
    yield from load_reader(layout.reader)(dict(layout.options), root)
