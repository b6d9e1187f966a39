"""The schema language on layouts no built-in corpus has: a corpus the code has never seen, from a
YAML file written here; JSON Lines; encodings and table options; the plugin escape hatch."""
from __future__ import annotations

import io
import json

import pytest
import soundfile as sf
import webdataset as wds

from fixtures.speech_corpora import write_audio
from pipelines.ingest.corpus import ingest
from pipelines.core.record import Drop, Record
from schemas.loader import SchemaError, load, parse

from conftest import PROJECT, audioprep, run_pipeline, toy_schema_text

ASR_EN_WRITTEN = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|itn|>"

# A layout of this test's own invention: one notes file for every session, each line a segment of a
# session recording ("@session utt start-end sex : text"), with markup to strip; the recordings in
# another tree, one folder per part; a session without recording and a recording without notes.
TOYCORP = r"""
name: toycorp
description: Sessions recorded in one take each, segments listed in notes/sessions.txt.
license: CC0-1.0
language: en
text_form: written
splits: {train: train, heldout: eval}
normalize:
  markup: {"<breath>": "", "[laugh]": ""}
layout:
  kind: lines
  files: notes/sessions.txt
  comment: "#"
  line: '@(?P<session>\w+) (?P<utt>\d+) (?P<start>[\d.]+)-(?P<end>[\d.]+) (?P<sex>[FM]) : (?P<text>.*)'
audio_files:
  files: "recordings/{split}/{session}.wav"
  key: "{session}"
  match: "{session}"
record:
  key: "{session}-{utt}"
  audio: "{audio_path}"
  offset: "{start}"
  end: "{end}"
  text: "{text}"
  meta: {sex: "{sex}"}
tasks: [{task: asr}]
"""

NOTES = """# toycorp notes v0.1
@s01 0001 1.00-2.50 F : Hello <breath> there.
@s01 0002 3.00-4.25 M : Good [laugh] morning!
@s02 0001 0.50-1.50 F : See you.
@s03 0001 0.00-1.00 F : This session has no recording.
"""


def write_toycorp(root) -> None:
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "sessions.txt").write_text(NOTES, encoding="utf-8")
    write_audio(str(root / "recordings" / "train" / "s01.wav"), 5.0, 22050, "wav", channels=2)
    write_audio(str(root / "recordings" / "heldout" / "s02.wav"), 2.0, 16000, "wav")
    write_audio(str(root / "recordings" / "train" / "s04.wav"), 1.0, 16000, "wav")  # no notes


def test_a_corpus_the_code_has_never_seen_from_yaml_alone(tmp_path):
    schema_file = tmp_path / "toycorp.yaml"
    schema_file.write_text(TOYCORP, encoding="utf-8")
    root = tmp_path / "toycorp"
    write_toycorp(root)
    assert "valid, 0 example(s) hold" in audioprep("schema", "validate", str(schema_file)).stderr

    out = tmp_path / "out"
    summary = run_pipeline({f"toycorp:{schema_file}": str(root)}, out, engine="local")
    assert {k: summary["datasets"]["toycorp"][k] for k in ("input", "written", "quarantined")} == {"input": 5, "written": 3, "quarantined": 2}
    quarantine = sorted((r["reason"], r["source"]) for r in map(json.loads, (out / "quarantine.jsonl").read_text().splitlines()))
    assert quarantine == [("audio_missing", "notes/sessions.txt:5"), ("audio_without_metadata", "recordings/train/s04.wav")]

    got = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            frames = sf.read(io.BytesIO(row["flac"]), dtype="int16")[0].shape[0]
            got[row["__key__"]] = (meta["split"], meta["source"]["offset"], frames, meta["meta"], [(v["prompt"], v["target"]) for v in meta["tasks"]])
    assert got == {
        "toycorp-s01-0001": ("train", 1.0, 24000, {"sex": "F"}, [(ASR_EN_WRITTEN, "Hello there.")]),
        "toycorp-s01-0002": ("train", 3.0, 20000, {"sex": "M"}, [(ASR_EN_WRITTEN, "Good morning!")]),
        "toycorp-s02-0001": ("heldout", 0.5, 16000, {"sex": "F"}, [(ASR_EN_WRITTEN, "See you.")]),
    }

    dry = audioprep("ingest", "--dataset", f"toycorp:{schema_file}={root}", "--dry-run").stderr
    assert f"toycorp-s01-0001 (train, train) recordings/train/s01.wav 1.00+1.50s\n    {ASR_EN_WRITTEN}Hello there." in dry
    assert "toycorp: 5 input(s), 3 record(s), 2 problem(s) (audio_missing 1, audio_without_metadata 1)" in dry


def _schema(tmp_path, layout: str, record: str, extra: str = ""):
    return parse(toy_schema_text(layout, record, extra=extra), tmp_path / "toy.yaml")


def test_json_lines_with_nested_segments_and_parent_fields(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.wav").write_bytes(b"x")
    lines = [
        {"file": "a.wav", "split": "train", "meta": {"who": "ann"}, "segs": [{"t0": 0.5, "t1": 1.25, "txt": "one"}, {"t0": 2, "t1": 3, "txt": "two"}]},
        {"file": "a.wav", "split": "test", "meta": {"who": "bob"}, "segs": [{"t0": 1, "t1": 2, "txt": "three"}]},
    ]
    (root / "index.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    schema = _schema(
        tmp_path,
        '{kind: json, lines: true, files: index.jsonl, records: "segs[*]", fields: {who: "^.meta.who"}}',
        '{key: "{who}-{t0}", audio: "{file}", offset: "{t0}", end: "{t1}", text: "{txt}", speaker: "{who}"}',
    )
    items = list(ingest(schema, "toy", str(root)))
    records = [i for i in items if isinstance(i, Record)]
    assert [(r.key, r.split, r.offset, r.duration, r.text, r.speaker, r.source) for r in records] == [
        ("toy-ann-0_5-4eed205994", "train", 0.5, 0.75, "one", "ann", "index.jsonl:1:segs[0]"),
        ("toy-ann-2", "train", 2.0, 1.0, "two", "ann", "index.jsonl:1:segs[1]"),
        ("toy-bob-1", "test", 1.0, 1.0, "three", "bob", "index.jsonl:2:segs[0]"),
    ]
    [bad] = [i for i in items if isinstance(i, Drop)]
    assert (bad.reason, bad.source) == ("json_unparsed", "index.jsonl:3")


def test_table_encoding_rename_strip_and_unquoted_quotes(tmp_path):
    root = tmp_path / "c"
    (root / "train").mkdir(parents=True)
    for name in ("a", "b"):
        (root / "train" / f"{name}.wav").write_bytes(b"x")
    (root / "list.txt").write_bytes(" FILE ; TRANSCRIPT \n a ; 你好 \"世界\n b;再见\n".encode("gbk"))
    schema = _schema(
        tmp_path,
        '{kind: table, files: list.txt, delimiter: ";", quotechar: null, strip: true, encoding: gbk, rename: {FILE: clip, TRANSCRIPT: words}}',
        '{key: "{clip}", audio: "train/{clip}.wav", split: train, text: "{words}"}',
    )
    records = list(ingest(schema, "toy", str(root)))
    assert [(r.key, r.text_raw) for r in records] == [("toy-a", '你好 "世界'), ("toy-b", "再见")]


def test_plugin_reader_named_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_reader.py").write_text(
        "from pipelines.ingest.layouts import Row\n"
        "def read(options, root):\n"
        "    for i in range(options['count']):\n"
        "        yield Row({'id': f'u{i}', 'split': 'train', 'text': f'word {i}'}, f'generated:{i}')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    root = tmp_path / "c"
    root.mkdir()
    for i in range(2):
        (root / f"u{i}.wav").write_bytes(b"x")
    schema = _schema(tmp_path, '{kind: plugin, reader: "my_reader:read", options: {count: 2}}', '{key: "{id}", audio: "{id}.wav", text: "{text}"}')
    assert [(r.key, r.text, r.source) for r in ingest(schema, "toy", str(root))] == [("toy-u0", "word 0", "generated:0"), ("toy-u1", "word 1", "generated:1")]


def test_schema_language_mistakes_are_named(tmp_path):
    with pytest.raises(SchemaError, match="root 'cv' is not declared under `roots`"):
        _schema(tmp_path, '{kind: files, files: "{split}/{id}.wav"}', '{key: "{id}", audio: "{path}", audio_root: cv}')
    with pytest.raises(SchemaError, match="records path"):
        _schema(tmp_path, '{kind: json, files: x.json, records: "a[*].[0]"}', '{key: "{id}", audio: "{path}"}')
    with pytest.raises(SchemaError, match="needs `record.translation`"):
        parse(load("covost2").model_dump_json(exclude={"record": {"translation"}}), tmp_path / "x.yaml")


def test_the_template_validates():
    assert "valid, 1 example(s) hold" in audioprep("schema", "validate", str(PROJECT / "docs" / "dataset-template.yaml")).stderr


def test_extra_roots_on_the_command_line_and_in_a_run_config(tmp_path):
    from pipelines.core.config import DatasetSpec
    from pipelines.core.run_config import load_run_config

    spec = DatasetSpec.parse("covost2=/data/co,vost,common_voice=/data/cv")
    assert (spec.name, spec.root, spec.roots) == ("covost2", "/data/co,vost", {"common_voice": "/data/cv"})
    assert spec.root_map() == {"covost2": "/data/co,vost", "covost2:common_voice": "/data/cv"}
    config = tmp_path / "run.yaml"
    config.write_text("out: out\ndatasets:\n  - {name: covost2, root: covost, roots: {common_voice: cv}}\n")
    run_config, _ = load_run_config(config)
    assert run_config.datasets[0].roots == {"common_voice": str(tmp_path / "cv")}


def test_json_document_is_streamed_item_by_item_and_a_broken_tail_is_reported(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "r.wav").write_bytes(b"x")
    body = '{"version": "1", "recordings": [' + ", ".join(
        json.dumps({"path": "r.wav", "split": "train", "segments": [{"id": f"s{i}", "b": i, "e": i + 0.5, "t": f"word {i}"}]}) for i in range(3)
    )
    (root / "big.json").write_text(body + ', {"path": "r.wav", "segments": [{"id": BROKEN')  # cut off mid-item
    schema = _schema(
        tmp_path,
        '{kind: json, files: big.json, records: "recordings[*].segments[*]"}',
        '{key: "{id}", audio: "{path}", offset: "{b}", end: "{e}", text: "{t}"}',
    )
    items = list(ingest(schema, "toy", str(root)))
    assert [(i.key, i.offset, i.text, i.source) for i in items[:3]] == [
        ("toy-s0", 0.0, "word 0", "big.json:recordings[0].segments[0]"),
        ("toy-s1", 1.0, "word 1", "big.json:recordings[1].segments[0]"),
        ("toy-s2", 2.0, "word 2", "big.json:recordings[2].segments[0]"),
    ]
    [broken] = items[3:]
    assert broken.reason == "json_unparsed" and broken.source == "big.json:recordings[3]"


MIXED = """
name: mixed
description: a table whose rows fail at every step of mapping, among good ones
license: CC0
language: en
text_form: spoken
splits: {train: train, test: eval}
layout: {kind: table, files: meta.tsv, delimiter: "\\t", quotechar: null}
record:
  key: "{id}"
  split: "{split}"
  audio: "{path}"
  duration: "{dur}"
  language: {value: "{lang}", map: {english: en, chinese: zh, none: ""}, strict: true}
  text: "{text}"
  speaker: "{spk}"
  captions: ["{cap}"]
  labels: {emotion: "{label}"}
  meta: {note: "{note}"}
  seconds: "{secs}"
tasks: [{task: asr}]
"""
MIXED_ROWS = [  # id, split, path, dur, lang, text, spk, cap, label, note, secs: the reason each row gets
    ("u01\ttrain\ta/x.flac\t1.5\tenglish\thello there\ts1\ta dog\thappy\t\t", "record"),
    ("u02\tdev\ta/x.flac\t1.5\tenglish\thello\ts1\tc\thappy\t\t", "unknown_split"),
    ("u03\ttrain\ta/gone.flac\t1.5\tenglish\thello\ts1\tc\thappy\t\t", "audio_missing"),
    ("u04\ttrain\t../x.flac\tnan?\tklingon\thello\ts1\tc\thappy\t\t", "path_outside_root"),
    ("u05\ttrain\ta/x.flac\tabc\tklingon\thello\ts1\tc\thappy\t\t", "bad_number"),
    ("u06\ttrain\ta/x.flac\t-1\tenglish\thello\ts1\tc\thappy\t\t", "bad_span"),
    ("u07\ttrain\ta/x.flac\t2\tklingon\thello\ts1\tc\thappy\t\t", "unmapped_value"),
    ("u08\ttrain\ta/x.flac\t2\tenglish\t   \ts1\tc\thappy\t\t", "empty_transcript"),
    ("u09\ttrain\ta/x.flac\t2\tenglish\t<|en|> hi\ts1\t<|en|>\thappy\t\t", "special_token_in_text"),
    ("u10\ttrain\ta/x.flac\t2\tenglish\thi\ts1\t<|en|>\thappy\t\t", "special_token_in_text"),
    ("a/b c\ttest\ta/./y.flac\t\tchinese\t我們 今天\t\tcap\t  calm  \tnote\t3.5", "record"),
    ("u12\ttrain\ta/y.flac\t\tnone\tno language\ts2\tcap\tcalm\t\tx", "bad_number"),
    ("u13\ttrain\ta/y.flac\t4", "row_malformed"),
    ("u14\ttrain\ta/y.flac\t\tenglish\tno length known\ts2\tcap\tcalm\t\t", "record"),
]


def test_a_batch_maps_every_row_as_it_would_be_mapped_alone(tmp_path):
    """Ingest maps rows in batches, step by step over columns: each row still gets exactly the record,
    or the drop (the first step that refuses it), it gets when mapped alone, and rows keep their order."""
    from pipelines.ingest.mapping import Context, map_rows
    from pipelines.ingest.layouts.readers import read_rows

    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.flac").write_bytes(b"x")
    (root / "a" / "y.flac").write_bytes(b"y")
    lines = [row for row, _ in MIXED_ROWS] * 3
    (root / "meta.tsv").write_text("id\tsplit\tpath\tdur\tlang\ttext\tspk\tcap\tlabel\tnote\tsecs\n" + "\n".join(lines) + "\n", encoding="utf-8")
    schema = parse(MIXED, "mixed.yaml")
    items = list(read_rows(schema.layout, str(root)))
    together = map_rows(schema, "mixed", str(root), items, Context()).items()
    alone = [map_rows(schema, "mixed", str(root), [item], Context()).items()[0] for item in items]
    assert together == alone
    assert [item.reason if isinstance(item, Drop) else "record" for item in together] == [reason for _, reason in MIXED_ROWS] * 3
    first, chinese, unknown_length = [item for item in together[: len(MIXED_ROWS)] if isinstance(item, Record)]
    assert (first.key, first.duration, first.language, first.captions, first.labels, first.meta) == ("mixed-u01", 1.5, "en", ("a dog",), {"emotion": "happy"}, {})
    assert chinese.key.startswith("mixed-a_b_c-") and chinese.audio == "a/y.flac" and chinese.role == "eval"
    assert (chinese.language, chinese.text_language, chinese.labels, chinese.meta, chinese.seconds, chinese.speaker) == ("zh", "zh", {"emotion": "calm"}, {"note": "note"}, 3.5, None)
    assert (unknown_length.duration, unknown_length.seconds) == (None, None)
    normalized = [item for item in together if isinstance(item, Drop) and item.stage == "normalize"]
    assert normalized and all(drop.key.startswith("mixed-u") for drop in normalized)
    assert "meta.tsv:11: captions[0]:" in [d.detail for d in normalized if d.key == "mixed-u10"][0]
