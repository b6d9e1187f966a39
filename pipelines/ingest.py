"""Ingest: a corpus on disk + its schema -> canonical records (or drops), streaming, no audio decoded.

The schema's layout reader yields rows of fields; ``map_row`` fills the record templates from them,
checks that the audio path stays inside the corpus root and exists, and attaches split role,
languages and licence. Every metadata row becomes exactly one record or one drop.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Iterator

from schemas.model import DatasetSchema

from .keys import sample_key
from .layouts import Row, read_rows
from .layouts.paths import inside
from .record import Drop, Record
from .text import normalize_record
from .templates import MissingField, render

STAGE = "ingest"


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _value(template, fields: dict[str, str], where: str) -> str:
    if isinstance(template, str):
        return render(template, fields)
    value = render(template.value, fields)
    if template.map:
        if value in template.map:
            value = template.map[value]
        elif template.strict:
            raise _Refused("unmapped_value", f"{where} value {value!r} is not in the schema's map ({', '.join(sorted(template.map))})")
    return value.lower() if template.lower else value


def map_row(schema: DatasetSchema, dataset: str, root: str, row: Row, *, check_files: bool = True) -> Record | Drop:
    """One row of fields -> one record, or a drop naming the source and the reason."""
    mapping = schema.record
    try:
        fields = row.fields
        split = render(mapping.split, fields)
        if split not in schema.splits:
            raise _Refused(
                "unknown_split",
                f"split {split!r} is not in the schema's splits ({', '.join(schema.splits)})",
            )
        audio_rel = render(mapping.audio, fields)
        audio = os.path.normpath(audio_rel)
        if os.path.isabs(audio_rel) or audio.startswith("..") or not inside(root, os.path.join(root, audio)):
            raise _Refused("path_outside_root", f"audio path {audio_rel!r} escapes the corpus root {root}")
        if check_files and not os.path.isfile(os.path.join(root, audio)):
            raise _Refused("audio_missing", f"no audio file {audio_rel} under {root}")
        text = _value(mapping.text, fields, "text") if mapping.text is not None else None
        record = Record(
            dataset=dataset,
            split=split,
            role=schema.splits[split],
            key=sample_key(dataset, render(mapping.key, fields)),
            audio=audio,
            language=schema.language,
            text_language=schema.text_language,
            text_form=schema.text_form,
            text=text,
            captions=tuple(render(c, fields) for c in mapping.captions),
            labels={name: _value(t, fields, f"labels.{name}") for name, t in mapping.labels.items()},
            speaker=render(mapping.speaker, fields) if mapping.speaker else None,
            license=render(mapping.license, fields) if mapping.license else schema.license,
            source=row.source,
            meta={name: render(t, fields) for name, t in mapping.meta.items()},
        )
    except MissingField as exc:
        return Drop(STAGE, "missing_field", f"{row.source}: {exc}", dataset=dataset, source=row.source)
    except _Refused as exc:
        return Drop(STAGE, exc.reason, f"{row.source}: {exc.detail}", dataset=dataset, source=row.source)
    return normalize_record(record, schema.normalize)


def ingest(schema: DatasetSchema, dataset: str, root: str) -> Iterator[Record | Drop]:
    """Every record (or drop) of the corpus at ``root``, in a deterministic order."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"corpus root {root} for dataset {dataset!r} is not a directory")
    root = os.path.abspath(root)
    for item in read_rows(schema.layout, root):
        if isinstance(item, Drop):
            yield replace(item, dataset=dataset)
        else:
            yield map_row(schema, dataset, root, item)


def run_example(schema: DatasetSchema, example) -> list[str]:
    """Check one worked example of a schema; returns the mismatches (empty when it holds)."""
    from .layouts.lines import parse_line
    from .layouts.paths import compile_pattern, path_fields
    import re

    segments = compile_pattern(schema.layout.files)
    parts = example.path.split("/")
    if len(parts) != len(segments):
        return [f"example path {example.path!r} does not fit the pattern {schema.layout.files!r}"]
    fields = path_fields(example.path)
    for segment, part in zip(segments, parts):
        match = segment.regex.fullmatch(part)
        if match is None:
            return [f"example path {example.path!r} does not fit the pattern {schema.layout.files!r}"]
        fields.update(match.groupdict())
    if example.line is not None:
        parsed = parse_line(re.compile(schema.layout.line), example.line)
        if parsed is None:
            return [f"example line {example.line!r} does not match {schema.layout.line!r}"]
        fields.update(parsed)
    fields.update(example.row or {})
    result = map_row(schema, schema.name, "/corpus", Row(fields, example.path), check_files=False)
    if isinstance(result, Drop):
        return [f"example {example.path!r} was dropped: {result.reason}: {result.detail}"]
    got = result.to_row()
    got["labels"] = result.labels
    got["meta"] = result.meta
    return [
        f"example {example.path!r}: {name} is {got.get(name)!r}, expected {want!r}"
        for name, want in example.expect.items()
        if got.get(name, "<no such field>") != want
    ]
