"""Layout readers and ingest mapping: rows, drops with reasons, path safety."""
import os

from pipelines.ingest.corpus import ingest
from pipelines.ingest.layouts.paths import Locator, match_files
from pipelines.core.record import Drop, Record
from schemas.loader import load, parse


def test_pattern_match_with_repeated_names_and_sorted_walk(tmp_path):
    for rel in ["b/1/2/1-2.txt", "a/3/4/3-4.txt", "a/3/4/3-5.txt", "a/3/4/notes.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    found = list(match_files(str(tmp_path), "{split}/{spk}/{chap}/{spk}-{chap}.txt"))
    assert [p for p, _ in found] == ["a/3/4/3-4.txt", "b/1/2/1-2.txt"]
    assert found[0][1] == {"path": "a/3/4/3-4.txt", "dir": "a/3/4", "name": "3-4.txt", "stem": "3-4", "split": "a", "spk": "3", "chap": "4"}


def test_symlink_out_of_root_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "secret.wav").write_bytes(b"RIFF")
    root = tmp_path / "root"
    (root / "Train").mkdir(parents=True)
    os.symlink(outside / "x", root / "Train" / "Bus")
    assert list(match_files(str(root), "{split}/{scene}/{stem}.wav")) == []


def _lines_schema(tmp_path, files="{split}/{spk}.txt", line=r"(?P<id>\S+) (?P<text>.*)", audio="{split}/{id}.wav"):
    text = f"""
name: toy
description: toy corpus
license: CC0
language: en
text_form: spoken
splits: {{train: train, test: eval}}
layout: {{kind: lines, files: "{files}", line: '{line}'}}
record: {{key: "{{id}}", audio: "{audio}", text: "{{text}}"}}
tasks: [{{task: asr}}]
"""
    return parse(text, tmp_path / "toy.yaml")


def test_lines_reader_handles_bom_crlf_blank_and_unparsable_lines(tmp_path):
    root = tmp_path / "corpus"
    (root / "train").mkdir(parents=True)
    for name in ("u1", "u2", "u3"):
        (root / "train" / f"{name}.wav").write_bytes(b"x")
    (root / "train" / "s1.txt").write_bytes("\ufeffu1 HELLO WORLD\r\n\r\nu2 SECOND LINE\r\nonlyone\r\nu3 café\n".encode("utf-8"))
    (root / "train" / "s2.txt").write_bytes(b"u4 bad \xff byte\nu5 NO AUDIO\n")
    items = list(ingest(_lines_schema(tmp_path), "toy", str(root)))
    records = [i for i in items if isinstance(i, Record)]
    drops = [i for i in items if isinstance(i, Drop)]
    assert [(r.key, r.text, r.role) for r in records] == [("toy-u1", "HELLO WORLD", "train"), ("toy-u2", "SECOND LINE", "train"), ("toy-u3", "café", "train")]
    assert [(d.reason, d.source) for d in drops] == [
        ("line_unparsed", "train/s1.txt:4"),
        ("undecodable_line", "train/s2.txt:1"),
        ("audio_missing", "train/s2.txt:2"),
    ]
    assert all(d.dataset == "toy" for d in drops)
    assert "no audio file train/u5.wav" in drops[2].detail


def test_path_escaping_the_root_is_refused_and_never_read(tmp_path):
    root = tmp_path / "corpus"
    (root / "train").mkdir(parents=True)
    (tmp_path / "secret.wav").write_bytes(b"x")
    (root / "train" / "s.txt").write_text("../../secret ESCAPE\n/etc/passwd ABSOLUTE\n")
    schema = _lines_schema(tmp_path, audio="{id}.wav")
    drops = list(ingest(schema, "toy", str(root)))
    assert [d.reason for d in drops] == ["path_outside_root", "path_outside_root"]


def test_locator_says_where_a_path_leads_and_whether_it_is_a_file(tmp_path):
    """Ingest's check of every audio path: (inside the root after symlinks, a regular file). A folder
    is listed once and held; a folder too big to hold, and a listing let go, give the same answers."""
    root, outside = tmp_path / "corpus", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "x.wav").write_bytes(b"x")
    (root / "a" / "sub").mkdir()
    (outside / "y.wav").write_bytes(b"y")
    os.symlink(root / "a" / "x.wav", root / "a" / "link_in.wav")
    os.symlink(outside / "y.wav", root / "a" / "link_out.wav")
    os.symlink(outside, root / "b")
    names = ["a/x.wav", "a/link_in.wav", "a/link_out.wav", "b/y.wav", "b/gone.wav", "a", "a/gone.wav", "a/sub", "nowhere/x.wav"]
    expected = {
        "a/x.wav": (True, True), "a/link_in.wav": (True, True), "a/link_out.wav": (False, True),
        "b/y.wav": (False, True), "b/gone.wav": (False, False), "a": (True, False), "a/gone.wav": (True, False),
        "a/sub": (True, False), "nowhere/x.wav": (True, False),
    }
    locate = Locator()
    assert {name: locate(str(root), name) for name in names} == expected
    real_b, inside_b, _ = locate.folders[(str(root), "b")]
    assert real_b == os.path.realpath(outside) and not inside_b
    assert set(locate.folders[(str(root), "a")][2]) == {"x.wav", "sub", "link_in.wav", "link_out.wav"}
    small = Locator()
    small.FOLDER_ENTRIES = 2  # folder a is too big to hold: its files are lstat'ed one by one
    assert {name: small(str(root), name) for name in names} == expected
    assert small.folders[(str(root), "a")][2] is None
    forgetful = Locator()
    forgetful.HELD_ENTRIES = 1  # every listing but the last is let go
    assert {name: forgetful(str(root), name) for name in names * 2} == expected
    assert len(forgetful.folders) == 1 and forgetful.held <= 4


def test_unknown_split_is_a_drop_naming_the_allowed_ones(tmp_path):
    root = tmp_path / "corpus"
    (root / "extra").mkdir(parents=True)
    (root / "extra" / "u1.wav").write_bytes(b"x")
    (root / "extra" / "s.txt").write_text("u1 HELLO\n")
    [drop] = list(ingest(_lines_schema(tmp_path), "toy", str(root)))
    assert drop.reason == "unknown_split" and "'extra'" in drop.detail and "train, test" in drop.detail


def test_table_reader_quoted_cells_and_malformed_rows(tmp_path):
    from pipelines.demo import write_clotho

    root = tmp_path / "clotho"
    write_clotho(str(root), {"development": 2}, too_long=False)
    with open(root / "clotho_captions_development.csv", "a", encoding="utf-8") as handle:
        handle.write("short row,only two\n")
    items = list(ingest(load("clotho"), "clotho", str(root)))
    records = [i for i in items if isinstance(i, Record)]
    assert len(records) == 2
    assert records[0].captions[1] == "Birds chirp, then a car passes by, loudly."
    assert records[0].audio == "development/development sound 00.wav"
    assert records[0].key.startswith("clotho-development_sound_00-")
    [drop] = [i for i in items if isinstance(i, Drop)]
    assert drop.reason == "row_malformed" and drop.source == "clotho_captions_development.csv:4"


def test_folder_per_label_with_value_map(tmp_path):
    from pipelines.demo import write_cochlscene

    root = tmp_path / "cochl"
    write_cochlscene(str(root), {"Train": 1}, corrupt=False)
    (root / "Train" / "Spaceship").mkdir()
    (root / "Train" / "Spaceship" / "x.wav").write_bytes(b"x")
    items = list(ingest(load("cochlscene"), "cochlscene", str(root)))
    labels = sorted(i.labels["scene"] for i in items if isinstance(i, Record))
    assert labels == ["bus", "cafe", "crowded indoor", "park", "street", "subway station"]
    [drop] = [i for i in items if isinstance(i, Drop)]
    assert drop.reason == "unmapped_value" and "'Spaceship'" in drop.detail


def test_real_librispeech_and_aishell_samples_ingest(tmp_path):
    from conftest import shared_corpus

    root = shared_corpus("librispeech", "LibriSpeech")
    records = list(ingest(load("librispeech"), "librispeech", str(root)))
    assert len(records) == 14 and all(isinstance(r, Record) for r in records)
    first = next(r for r in records if r.key == "librispeech-1089-134691-0001")
    assert first.text_raw.endswith("HE COULD WAIT NO LONGER")  # last line without a trailing newline
    assert first.text == first.text_raw.lower()  # normalize.case: lower
    assert first.split == "test-clean" and first.role == "eval" and first.speaker == "1089"
