"""Key tables spilled to disk (``ingest/spill.py``): a join's key table and the audio index answer
exactly as in memory, so a corpus ingested with a tiny spill bound gives the same manifest and drops."""
from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest

from pipelines.core.config import DatasetSpec
from pipelines.ingest import spill
from pipelines.ingest.manifest import ingest_dataset
from pipelines.ingest.spill import KeyTable

SCHEMA = """
name: spilly
description: A table corpus with a speaker table and topic table joined by id, audio found by name.
license: CC0-1.0
language: en
text_language: en
text_form: spoken
splits: {train: train, test: eval}
layout: {kind: table, files: "metadata_{split}.csv"}
joins:
  - name: speakers
    layout: {kind: table, files: speakers.csv}
    key: "{id}"
    match: "{id}"
    fields: {speaker: "{speaker}", accent: "{accent}"}
    required: true
  - name: topics
    layout: {kind: table, files: topics.csv}
    key: "{code}"
    match: "{topics}"
    each: "+"
    fields: {topic: "{label}"}
audio_files:
  files: "audio/{folder}/{name}.flac"
  key: "{name}"
  match: "{id}"
record:
  key: "{id}"
  audio: "{audio_path}"
  duration: "{duration}"
  text: "{text}"
  speaker: "{speaker}"
  meta: {accent: "{accent}", topic: "{topic}", folder: "{folder}"}
tasks: [{task: asr}]
"""

NAMES = ["u001", "u002", "café", "日本語", "u005", "Zed", "a b", "u008", "u009", "u010", "u011", "u012"]


def write_corpus(root) -> None:
    """Rows of two splits; a speaker table with a repeated key (the first row wins) and a missing one;
    audio in three folders with a name listed twice, files no row uses, and a row without audio."""
    rng = random.Random(7)
    (root / "audio" / "f1").mkdir(parents=True)
    (root / "audio" / "f2").mkdir()
    (root / "audio" / "f0").mkdir()
    for i, name in enumerate(NAMES):
        (root / "audio" / f"f{1 + i % 2}" / f"{name}.flac").write_bytes(b"")
    for extra in ("f0/u002", "f0/unused", "f2/orphan", "f1/ü-orphan"):  # f0/u002 comes first: f2/u002 is never used
        (root / "audio" / f"{extra}.flac").write_bytes(b"")
    rows = {"train": [], "test": []}
    for i, name in enumerate(NAMES + ["no-audio"]):
        rows["train" if i % 3 else "test"].append(f"{name},{1 + i / 4:.2f},words of {name},t{i % 3}+t{(i + 1) % 4}")
    for split, lines in rows.items():
        rng.shuffle(lines)
        (root / f"metadata_{split}.csv").write_text("id,duration,text,topics\n" + "\n".join(lines) + "\n", encoding="utf-8")
    speakers = [f'{name},spk{i % 4},"accent, {i}"' for i, name in enumerate(NAMES) if name != "u009"]
    speakers += ["no-audio,spk9,none", "u001,later-row,ignored", "café,later-row,ignored"]
    (root / "speakers.csv").write_text("id,speaker,accent\n" + "\n".join(speakers) + "\n", encoding="utf-8")
    (root / "topics.csv").write_text("code,label\nt0,zero\nt1,one\nt2,two\nt1,not one\n", encoding="utf-8")


def ingest_with_bound(tmp_path, monkeypatch, bound: int, name: str) -> tuple[list[dict], bytes, list[bool]]:
    """The manifest rows and the drops file's bytes of the corpus, with key tables spilled past ``bound``."""
    monkeypatch.setattr(spill, "SPILL_KEYS", bound)
    spilled = []
    close = KeyTable.close
    monkeypatch.setattr(KeyTable, "close", lambda self: (spilled.append(self.spilled), close(self)))
    schema_file = tmp_path / "spilly.yaml"
    schema_file.write_text(SCHEMA, encoding="utf-8")
    out = tmp_path / name
    counts = ingest_dataset(DatasetSpec("spilly", str(schema_file), str(tmp_path / "corpus")), str(out), probe_durations=False)
    # every row once, and every file no row used (4, and the file of the row its join refused) once
    assert counts["records"] + counts["drops"] == len(NAMES) + 1 + 5
    manifest = pq.read_table(out / "manifests" / "spilly.parquet").to_pylist()
    return manifest, (out / "_work" / "ingest" / "spilly.drops.jsonl").read_bytes(), list(spilled)


def test_a_corpus_ingested_with_spilled_key_tables_gives_the_same_manifest_and_drops(tmp_path, monkeypatch):
    write_corpus(tmp_path / "corpus")
    memory = ingest_with_bound(tmp_path, monkeypatch, spill.SPILL_KEYS, "memory")
    disk = ingest_with_bound(tmp_path, monkeypatch, 2, "disk")
    assert memory[2] == [False, False, False] and disk[2] == [True, True, True]  # 2 joins (of 2 files) + the audio index
    assert disk[0] == memory[0] and disk[1] == memory[1]
    drops = memory[1].decode()
    for reason, source in [("join_unmatched", "u009"), ("audio_missing", "no-audio"),
                           ("audio_without_metadata", "audio/f2/u002.flac"), ("audio_without_metadata", "audio/f1/ü-orphan.flac")]:
        assert reason in drops and source in drops
    by_key = {row["key"]: row for row in memory[0]}
    assert by_key["spilly-u001"]["speaker"] == "spk0"  # the first row of a repeated key wins
    assert len(memory[0]) == len(NAMES) - 1


@pytest.mark.parametrize("bound", [0, 1, 5, 1000])
def test_a_key_table_answers_alike_in_memory_and_on_disk(bound):
    rng = random.Random(bound)
    alphabet = ["a", "b", "é", "日", "\udcff", "\U0001f600", "0", "/"]
    pairs = [("".join(rng.choices(alphabet, k=rng.randint(0, 3))), "".join(rng.choices(alphabet, k=4))) for _ in range(300)]
    reference = {}
    for key, value in pairs:
        reference.setdefault(key, value)
    table = KeyTable(keep_later=True, limit=bound)
    for key, value in pairs:
        table.add(key, value)
    table.finish()
    assert table.spilled == (len(reference) > bound)
    used = set(rng.sample(sorted(reference), len(reference) // 2))
    for key in sorted(reference) + ["missing", "\udcfe"]:
        assert table.get(key) == reference.get(key)
        if key in used:
            table.mark(key)
    later = [v for i, (k, v) in enumerate(pairs) if any(k2 == k for k2, _ in pairs[:i])]
    assert list(table.unmarked_and_later()) == sorted([v for k, v in reference.items() if k not in used] + later)
    table.close()


def test_a_tuple_table_keeps_its_values_as_given():
    table = KeyTable(tuples=True, limit=1)
    for key, value in [("x", ("a", "b, c")), ("y", ("\udc80", '"q"')), ("x", ("later", ""))]:
        table.add(key, value)
    table.finish()
    assert table.spilled and table.get("x") == ("a", "b, c") and table.get("y") == ("\udc80", '"q"') and table.get("z") is None
