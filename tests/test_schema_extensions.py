"""The schema-language extensions of issue 4, each on a toy corpus of the test's own: object members
(`{*}`) nested and in JSON Lines, multi-row headers, a quoted list after padding, list joins with an
unknown item left out, value-map defaults and replacements, and where each one's drops come from."""
import json

from pipelines.ingest.corpus import ingest
from pipelines.core.record import Drop, Record
from schemas.loader import parse

HEAD = """
name: toy
description: toy corpus
license: CC0
language: null
splits: {train: train, test: eval}
"""


def _run(tmp_path, body: str):
    schema = parse(HEAD + body, tmp_path / "toy.yaml")
    return list(ingest(schema, "toy", str(tmp_path)))


def test_object_members_nested_in_json_lines_with_their_names_as_a_field(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"kit": "drums", "notes": {"kick-060": {"pitch": 60, "tags": ["dark", "short"]}, "snare-062": {"pitch": 62, "tags": []}}}) + "\n")
    for name in ("kick-060", "snare-062"):
        (tmp_path / f"{name}.wav").write_bytes(b"x")
    items = _run(tmp_path, """
layout: {kind: json, files: "{split:train}.jsonl", lines: true, records: "notes{*}", member_field: note, list_joiner: ", "}
record: {key: "{note}", audio: "{note}.wav", labels: {pitch: "{pitch}", tags: "{tags}", kit: "{kit}"}}
tasks: [{task: sound_event, source: labels.tags}]
""")
    assert [(r.key, r.labels, r.source) for r in items] == [
        ("toy-kick-060", {"pitch": "60", "tags": "dark, short", "kit": "drums"}, "train.jsonl:1:notes.kick-060"),
        ("toy-snare-062", {"pitch": "62", "tags": "", "kit": "drums"}, "train.jsonl:1:notes.snare-062"),
    ]


def test_multi_row_header_padding_before_quotes_list_join_and_map_defaults(tmp_path):
    (tmp_path / "meta.csv").write_text(',clip,clip,label\n,name,split,ids\nrow_id,,,\n'
                                       '1, a.wav, train, "/m/1,/m/2"\n2, b.wav, test, "/m/2,/m/9"\n3, c.wav, dev, "/m/1"\n')
    (tmp_path / "names.csv").write_text('mid,name\n/m/1,"Dog, barking"\n/m/2,Cat_purr\n')
    for name in "abc":
        (tmp_path / f"{name}.wav").write_bytes(b"x")
    items = _run(tmp_path, """
layout: {kind: table, files: meta.csv, header_rows: 3, strip: true}
joins:
  - {name: names, layout: {kind: table, files: names.csv}, key: "{mid}", match: "{label_ids}", each: ",", joiner: "; ", fields: {events: "{name}"}}
record:
  key: "{row_id}"
  audio: "{clip_name}"
  split: {value: "{clip_split}", map: {train: train}, default: test}
  labels: {events: {value: "{events}", replace: {"_": " "}}}
tasks: [{task: sound_event}]
""")
    assert [(r.key, r.split, r.labels["events"]) for r in items] == [
        ("toy-1", "train", "Dog, barking; Cat purr"),
        ("toy-2", "test", "Cat purr"),  # /m/9 is unknown: left out (the join is not required)
        ("toy-3", "test", "Dog, barking"),  # "dev" is not in the map: the default
    ]


def test_a_required_list_join_drops_the_row_naming_the_unknown_item(tmp_path):
    (tmp_path / "meta.csv").write_text('clip,ids\na.wav,"/m/1,/m/9"\n')
    (tmp_path / "names.csv").write_text('mid,name\n/m/1,Dog\n')
    (tmp_path / "a.wav").write_bytes(b"x")
    [drop] = _run(tmp_path, """
layout: {kind: table, files: meta.csv}
joins:
  - {name: names, layout: {kind: table, files: names.csv}, key: "{mid}", match: "{ids}", each: ",", fields: {events: "{name}"}, required: true}
record: {key: "{clip}", audio: "{clip}", split: train, labels: {events: "{events}"}}
tasks: [{task: sound_event}]
""")
    assert isinstance(drop, Drop) and (drop.reason, drop.source) == ("join_unmatched", "meta.csv:2")
    assert "'/m/9'" in drop.detail


def test_derive_by_map_and_every_match(tmp_path):
    (tmp_path / "meta.csv").write_text('id,part,note\n1,tr,"[a : x] then [b : y z]"\n2,te,none here\n3,xx,\n')
    for n in "123":
        (tmp_path / f"{n}.wav").write_bytes(b"x")
    items = _run(tmp_path, r"""
layout: {kind: table, files: meta.csv}
derive:
  - {value: "{part}", field: split, map: {tr: train, te: test}}
  - {value: "{note}", regex: '\[(?P<k>\w+) : (?P<v>[^\]]+)\]', each: "{k}={v}", joiner: "; ", field: pairs}
record: {key: "{id}", audio: "{id}.wav", labels: {pairs: "{pairs}"}}
tasks: [{task: sound_event, source: labels.pairs}]
""")
    assert [(r.split, r.labels) for r in items if isinstance(r, Record)] == [("train", {"pairs": "a=x; b=y z"}), ("test", {"pairs": ""})]
    assert [(d.reason, d.source) for d in items if isinstance(d, Drop)] == [("derive_unmatched", "meta.csv:4")]


def test_a_bare_star_reads_rows_shipped_as_a_list_or_as_an_object_and_numbers_pick_cells(tmp_path):
    rows = [["a", "Female", 23], ["b", "Male", "40"]]
    (tmp_path / "meta").mkdir()
    for split, document in (("train", rows), ("test", {row[0]: row for row in rows})):
        (tmp_path / "meta" / f"{split}.json").write_text(json.dumps(document))
    for name in "ab":
        (tmp_path / f"{name}.wav").write_bytes(b"x")
    items = _run(tmp_path, """
layout: {kind: json, files: "meta/{split:train|test}.json", records: "*", fields: {id: "0", age: "2", gone: "7"}}
record: {key: "{split}-{id}", audio: "{id}.wav", labels: {age: "{age}"}}
tasks: [{task: sound_event, source: labels.age}]
""")
    assert [(r.key, r.labels, r.source) for r in items] == [
        ("toy-test-a", {"age": "23"}, "meta/test.json:a"),  # an object of rows keyed by id
        ("toy-test-b", {"age": "40"}, "meta/test.json:b"),
        ("toy-train-a", {"age": "23"}, "meta/train.json:[0]"),  # a list of rows
        ("toy-train-b", {"age": "40"}, "meta/train.json:[1]"),
    ]
    # a cell past the end of a row is no field: a template using it fails on that row, naming it
    [drop, *_] = _run(tmp_path, """
layout: {kind: json, files: "meta/{split:train}.json", records: "*", fields: {id: "0", gone: "7"}}
record: {key: "{id}", audio: "{id}.wav", labels: {age: "{gone}"}}
tasks: [{task: sound_event, source: labels.age}]
""")
    assert isinstance(drop, Drop) and (drop.reason, drop.source) == ("missing_field", "meta/train.json:[0]")
