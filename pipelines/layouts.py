"""The names plugin readers were promised (docs/adding-a-dataset.md): ``pipelines.layouts.Row``.

A reader named by a schema's ``kind: plugin`` yields ``Row`` or ``Drop``; they live in
``pipelines.ingest.layouts`` and ``pipelines.core.record``, and stay importable from here.
"""
from pipelines.core.record import Drop
from pipelines.ingest.layouts import Row

__all__ = ["Drop", "Row"]
