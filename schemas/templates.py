"""Schema templates: ``"{dir}/{id}.flac"`` filled from the fields a layout found.

Placeholders are plain field names with an optional filter: ``{name:stem}`` (file name without its
extension), ``{name:lower}``, ``{name:upper}``. A template naming a field the row lacks is a
``MissingField`` error; callers turn it into a drop that names the field and the fields present.
"""
from __future__ import annotations

import os
import re
import string
from functools import lru_cache

FILTERS = {
    "": lambda v: v,
    "stem": lambda v: os.path.splitext(v)[0],
    "lower": str.lower,
    "upper": str.upper,
    "int": lambda v: str(int(v)) if v.strip().isdigit() else v,  # "000042" -> "42" (zero-padded ids)
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MissingField(KeyError):
    def __init__(self, name: str, available: list[str]):
        super().__init__(name)
        self.name = name
        self.available = available

    def __str__(self) -> str:
        return f"no field {self.name!r}; fields here: {', '.join(sorted(self.available))}"


@lru_cache(maxsize=1024)
def parse(template: str) -> tuple[tuple[str, str | None, str], ...]:
    """``(literal, field or None, filter)`` triples; raises ValueError on a bad placeholder."""
    parts = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if name is not None:
            if not _NAME.fullmatch(name) or conversion or (spec or "") not in FILTERS:
                raise ValueError(
                    f"placeholder {{{name}{':' + spec if spec else ''}}} in {template!r}: use {{field}} "
                    f"or {{field:filter}} with a filter among {', '.join(f for f in FILTERS if f)}"
                )
        parts.append((literal, name, spec or ""))
    return tuple(parts)


def fields_of(template: str) -> list[str]:
    return [name for _, name, _ in parse(template) if name is not None]


def render(template: str, fields: dict[str, str]) -> str:
    out = []
    for literal, name, filt in parse(template):
        out.append(literal)
        if name is not None:
            try:
                value = fields[name]
            except KeyError:
                raise MissingField(name, list(fields)) from None
            out.append(FILTERS[filt](value))
    return "".join(out)
