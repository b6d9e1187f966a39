"""Text normalization: one documented text form per language (docs/text.md).

Every rule is a named step (``steps.steps_for``): the basic clean-up every language gets
(``basic``), the corpus's markup as its schema declares it (``markup``), punctuation conventions
(``punctuation``) and the Chinese script (``chinese``). ``normalize_columns`` is the stage (``normalize_record`` for one record);
``explain`` shows what each step did (``audioprep text explain``).
"""
from pipelines.ingest.text.normalize import (
    Normalized,
    explain,
    normalize_columns,
    normalize_record,
    normalize_text,
    refusal,
)
from pipelines.ingest.text.steps import Step, steps_for

__all__ = ["Normalized", "Step", "explain", "normalize_columns", "normalize_record", "normalize_text", "refusal", "steps_for"]
