"""The schemas' worked examples, run: a path and a line, row or fields -> the record the schema maps
it to, compared with what the example expects (``audioprep schema validate``; the DAG's check of a corpus)."""
from __future__ import annotations

import re

from schemas.model import DatasetSchema

from pipelines.core.record import Drop
from pipelines.ingest.layouts import Row
from pipelines.ingest.layouts.lines import parse_line
from pipelines.ingest.layouts.paths import path_fields, pattern_fields
from pipelines.ingest.mapping import Context, map_row


def example_fields(schema: DatasetSchema, example) -> dict[str, str] | str:
    """The fields a reader would give for a worked example, or why the example does not fit."""
    pattern = getattr(schema.layout, "files", None)
    fields: dict[str, str] = path_fields(example.path)
    if pattern:
        for one in [pattern] if isinstance(pattern, str) else pattern:
            found = pattern_fields(one, example.path, whole=True)
            if found is not None:
                fields.update(found)
                break
        else:
            return f"example path {example.path!r} does not fit the pattern {pattern!r}"
    if example.line is not None:
        if schema.layout.kind != "lines":
            return "`line` is for lines layouts; give `row` or `fields`"
        parsed = parse_line(re.compile(schema.layout.line), example.line)
        if parsed is None:
            return f"example line {example.line!r} does not match {schema.layout.line!r}"
        fields.update(parsed)
    if example.row:
        rename = getattr(schema.layout, "rename", {})
        fields.update({rename.get(k, k): v for k, v in example.row.items()})
    fields.update(example.fields)
    return fields


def run_example(schema: DatasetSchema, example) -> list[str]:
    """Check one worked example of a schema; returns the mismatches (empty when it holds).

    Joined values and audio-file fields are not looked up: the example gives them under ``fields``.
    """
    fields = example_fields(schema, example)
    if isinstance(fields, str):
        return [fields]
    context = Context(roots={name: f"/{name}" for name in schema.roots}, check_files=False)
    result = map_row(schema, schema.name, "/corpus", Row(fields, example.path), context=context)
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
