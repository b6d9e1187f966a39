"""Row rules: what the schema does to a row's fields (defaults, exclusions, derived fields) and the
rules that turn rendered templates into a record's values (maps, numbers, span, split, audio path,
language codes). Each rule raises ``Refused`` for a row that is not a usable record."""
from __future__ import annotations

import os
import re

from schemas.model import DatasetSchema
from schemas.record import Joined, Number
from schemas.templates import MissingField, fields_of, render
from tag_builder.languages import LANGUAGE_TOKENS

from pipelines.core.record import DropSpan
from pipelines.ingest.guards import is_text, printable
from pipelines.ingest.layouts.paths import Locator
from pipelines.ingest.refusals import Refused


def apply_row_rules(schema: DatasetSchema, fields: dict[str, str]) -> Refused | None:
    """Defaults for fields the row lacks, excluded rows (on the reader's own fields), then derived
    fields, in schema order. An excluded row is returned as its refusal, its fields still completed
    as far as they go (the caller raises it once it knows where the row's audio lies)."""
    for name, value in schema.defaults.items():
        fields.setdefault(name, value)
    excluded = None
    for rule in schema.exclude:
        value = render(rule.value, fields)
        if re.search(rule.regex, value):
            excluded = Refused(rule.reason, f"{value[:120]!r} matches {rule.regex!r} (excluded by the schema)")
            break
    for rule in schema.derive:
        try:
            _derive(rule, render(rule.value, fields), fields)
        except (Refused, MissingField):
            if excluded is None:
                raise
            break  # an excluded row: its exclusion is the reason given
    return excluded


def dropped_span(schema: DatasetSchema, fields: dict[str, str]) -> DropSpan | None:
    """Where a refused row's segment lies in its audio file, when its fields say (its audio path, an
    offset and a duration or an end); None for a whole-file row or one whose span cannot be read."""
    mapping = schema.record
    try:
        offset, duration = span(
            number_of(mapping.offset, fields, "offset"), number_of(mapping.duration, fields, "duration"),
            number_of(mapping.end, fields, "end"),
        )
        audio = os.path.normpath(render(mapping.audio, fields))
    except (Refused, MissingField, ValueError):
        return None
    return None if duration is None else DropSpan(mapping.audio_root, audio, offset, duration)


def _derive(rule, value: str, fields: dict[str, str]) -> None:
    """One derived field (a map, or a regex's groups over ``value``) added to ``fields``."""
    if rule.map is not None:
        if value in rule.map:
            fields[rule.field] = rule.map[value]
        elif rule.required:
            known = ", ".join(sorted(rule.map))
            raise Refused("derive_unmatched", f"{value!r} is not in the map of field {rule.field!r} ({known})")
        else:
            fields[rule.field] = ""
        return
    regex = re.compile(rule.regex)
    if rule.each is not None:
        fields[rule.field] = rule.joiner.join(
            render(rule.each, {k: v or "" for k, v in m.groupdict().items()}) for m in regex.finditer(value)
        )
        return
    match = regex.search(value) if rule.search else regex.fullmatch(value)
    if match is None:
        if rule.required:
            raise Refused("derive_unmatched", f"{value!r} does not match {rule.regex!r}")
        fields.update({name: "" for name in regex.groupindex})
    else:
        fields.update({k: v or "" for k, v in match.groupdict().items()})


def value_of(template, fields: dict[str, str], where: str) -> str:
    """A record field's template (plain, joined, or a value with map/replace/lower) over one row's fields."""
    if isinstance(template, str):
        return render(template, fields)
    if isinstance(template, Joined):
        parts = [
            render(part, fields) for part in template.join
            if not template.skip_unfilled or all(fields.get(name, "").strip() for name in fields_of(part))
        ]
        return template.joiner.join(p for p in parts if p.strip() or not template.skip_empty)
    return mapped_value(template, render(template.value, fields), where)


def mapped_value(template, value: str, where: str) -> str:
    """A value template's rendered ``value`` through its map, replacements and case."""
    if template.map:
        if value in template.map:
            value = template.map[value]
        elif template.strict:
            raise Refused(
                "unmapped_value", f"{where} value {value!r} is not in the schema's map ({', '.join(sorted(template.map))})"
            )
        elif template.default is not None:
            value = template.default
    for old, new in template.replace.items():
        value = value.replace(old, new)
    return value.lower() if template.lower else value


def number_of(template, fields: dict[str, str], where: str) -> float | None:
    """A number template over one row's fields (None when the schema gives none, or it renders empty)."""
    if template is None:
        return None
    return parsed_number(template, render(template if isinstance(template, str) else template.value, fields), where)


def parsed_number(template, raw: str, where: str) -> float | None:
    if not raw.strip():
        return None  # not given (e.g. an optional join without a match): unknown, not an error
    try:
        value = float(raw)
    except ValueError:
        raise Refused("bad_number", f"{where} {raw!r} is not a number") from None
    return value / template.divide if isinstance(template, Number) else value


def span(offset: float | None, duration: float | None, end: float | None) -> tuple[float, float | None]:
    """The record's (offset, duration) in its audio file, from an offset and a duration or an end."""
    if end is not None:
        duration = round(end - (offset or 0.0), 6)  # 4.4 - 2.08 is 2.3200000000000003 in floats
    if (offset is not None and offset < 0) or (duration is not None and duration <= 0):
        raise Refused("bad_span", f"offset {offset} s, duration {duration} s is not a span of audio")
    return offset or 0.0, duration


def known_split(schema: DatasetSchema, split: str) -> str:
    if split not in schema.splits:
        raise Refused("unknown_split", f"split {split!r} is not in the schema's splits ({', '.join(schema.splits)})")
    return split


def audio_path(base: str, relpath: str, locate: Locator, must_exist: bool, checked: bool = False) -> str:
    """The record's audio path, normalized, if it is a usable path inside ``base`` (and, with
    ``must_exist``, a file there). ``checked``: the path is known to hold neither a NUL nor a lone
    surrogate."""
    if not checked and "\x00" in relpath:
        raise Refused("bad_path", f"audio path {relpath!r} holds a NUL character")
    if not checked and not is_text(relpath):  # a lone surrogate (a JSON escape, an undecodable name): no file has it
        raise Refused("undecodable_text", f"audio path {printable(relpath)!r} holds bytes that are not text")
    audio = os.path.normpath(relpath)
    escapes = audio.startswith(("/", ".."))  # absolute, or up out of the root
    within, is_file = (False, False) if escapes else locate(base, audio)
    if not within:
        raise Refused("path_outside_root", f"audio path {relpath!r} escapes the corpus root {base}")
    if must_exist and not is_file:
        raise Refused("audio_missing", f"no audio file {relpath} under {base}")
    return audio


def language_code(code: str | None, where: str) -> str | None:
    """A language code that has a Qwen-Audio token, or a refusal: never an invented token."""
    if code is None or code in LANGUAGE_TOKENS:
        return code
    raise Refused(
        "no_language_token",
        f"{where} {code!r} has no Qwen-Audio language token (tokens exist for {', '.join(LANGUAGE_TOKENS)}); "
        "the record is refused rather than tagged with an invented token",
    )
