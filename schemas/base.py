"""What every part of the schema language shares: strict models and the checks of names and regexes.

A model is ``Strict``: unknown keys are errors (``extra="forbid"``), so a typo fails with its line
instead of being ignored, and a loaded schema cannot be changed (``frozen``).
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

#: schema and join names: lower-case letters, digits, ``_`` and ``-``
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def named_regex(value: str, example: str = "(?P<speaker>\\w+)") -> str:
    """A regex with named groups (each group becomes a field), or the error saying what is wrong."""
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regex: {exc}") from None
    if not compiled.groupindex:
        raise ValueError(f"the regex needs named groups, e.g. {example}")
    return value
