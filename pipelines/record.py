"""The name plugin readers were promised (docs/adding-a-dataset.md): ``pipelines.record.Drop``.

It lives in ``pipelines.core.record`` and stays importable from here, with ``Record``.
"""
from pipelines.core.record import Drop, Record

__all__ = ["Drop", "Record"]
