"""Plugin readers written against the documented names keep working: ``pipelines.layouts.Row`` and
``pipelines.record.Drop`` (docs/adding-a-dataset.md), as before the package was laid out by stage."""
from __future__ import annotations

from pipelines.ingest.corpus import ingest
from schemas.loader import parse

SCHEMA = """
name: toy
description: Rows made by a plugin reader.
license: CC0-1.0
language: en
text_form: written
splits: {train: train}
layout: {kind: plugin, reader: "legacy_reader:read", options: {count: 3}}
record: {key: "{id}", audio: "{id}.wav", text: "{text}"}
tasks: [{task: asr}]
"""


def test_a_plugin_reader_using_the_documented_names_is_read(tmp_path, monkeypatch):
    (tmp_path / "legacy_reader.py").write_text(
        "from pipelines.layouts import Row\n"
        "from pipelines.record import Drop\n"
        "def read(options, root):\n"
        "    for i in range(options['count']):\n"
        "        yield Row({'id': f'u{i}', 'split': 'train', 'text': f'word {i}'}, f'generated:{i}')\n"
        "    yield Drop('ingest', 'unreadable', 'generated:3 could not be read', source='generated:3')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    root = tmp_path / "corpus"
    root.mkdir()
    for i in range(3):
        (root / f"u{i}.wav").write_bytes(b"x")
    schema = parse(SCHEMA, tmp_path / "toy.yaml")
    items = list(ingest(schema, "toy", str(root)))
    assert [(r.key, r.text) for r in items[:3]] == [("toy-u0", "word 0"), ("toy-u1", "word 1"), ("toy-u2", "word 2")]
    assert (items[3].reason, items[3].source, items[3].dataset) == ("unreadable", "generated:3", "toy")
