"""Text normalization: one documented text form per language (docs/text.md).

Every rule is a named step (``steps.steps_for``): the basic clean-up every language gets
(``basic``), the corpus's markup as its schema declares it (``markup``), punctuation conventions
(``punctuation``) and the Chinese script (``chinese``). ``normalize_record`` is the stage;
``explain`` shows what each step did (``audioprep text explain``).
"""
from .normalize import Normalized, explain, normalize_record, normalize_text
from .steps import Step, steps_for

__all__ = ["Normalized", "Step", "explain", "normalize_record", "normalize_text", "steps_for"]
