"""Windows never hold untranscribed speech (issue 23, item 1): a segment dropped at ingest keeps its span,
a window closes before it, and ``audioprep verify`` finds, in an output already built, a window that
runs across one. Corpora written in their genuine layouts (TED-LIUM STM + SPHERE, GigaSpeech JSON + Opus)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import webdataset as wds

from fixtures.speech_corpora import write_audio
from pipelines.finalize.verify import verify
from pipelines.finalize.windows_check import DroppedSpans
from pipelines.ingest import windows

from conftest import run_pipeline


def write_talk(root: Path) -> None:
    """One TED-LIUM talk: kept 0-2 s and 2.9-4.9 s with an unscored gap between (under max_gap), then
    kept 5.5-7 s and 7.8-9 s with an unusable transcript (``<unk>``) between."""
    lines = [
        "Talk_2010 1 Talk_2010 0.00 2.00 <o,f0,male> we went to the river",
        "Talk_2010 1 inter_segment_gap 2.10 2.80 <o,,unknown> ignore_time_segment_in_scoring",
        "Talk_2010 1 Talk_2010 2.90 4.90 <o,f0,male> and it was cold",
        "Talk_2010 1 Talk_2010 5.50 7.00 <o,f0,male> so we came home",
        "Talk_2010 1 Talk_2010 7.10 7.70 <o,f0,male> <unk> said",
        "Talk_2010 1 Talk_2010 7.80 9.00 <o,f0,male> good night",
    ]
    os.makedirs(root / "data" / "stm")
    (root / "data" / "stm" / "Talk_2010.stm").write_text("\n".join(lines) + "\n")
    write_audio(str(root / "data" / "sph" / "Talk_2010.sph"), 10.0, 16000, "sphere")


def write_podcast(root: Path) -> None:
    """One GigaSpeech recording: kept 0-2 s and 2.9-4.9 s with a segment of garbage tags only between."""
    segments = [
        ("S0", 0.0, 2.0, "WE WENT TO THE RIVER <PERIOD>"),
        ("S1", 2.1, 2.8, "<NOISE> <MUSIC>"),
        ("S2", 2.9, 4.9, "AND IT WAS COLD <PERIOD>"),
    ]
    document = {"dataset": "GigaSpeech", "language": "EN", "audios": [{
        "aid": "POD1", "source": "podcast", "path": "audio/podcast/POD1.opus", "duration": 6.0, "subsets": ["{XL}"],
        "segments": [{"sid": f"POD1_{sid}", "begin_time": a, "end_time": b, "text_tn": text, "subsets": ["{XL}"]}
                     for sid, a, b, text in segments],
    }]}
    os.makedirs(root)
    (root / "GigaSpeech.json").write_text(json.dumps(document))
    write_audio(str(root / "audio" / "podcast" / "POD1.opus"), 6.0, 16000, "opus")


def windows_of(out: Path) -> list[tuple[float, float, str]]:
    found = []
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            found.append((meta["source"]["offset"], meta["source"]["duration"], meta["tasks"][0]["target"]))
    return sorted(found)


def test_tedlium_windows_close_before_excluded_and_unusable_segments(tmp_path):
    write_talk(tmp_path / "ted")
    summary = run_pipeline({"tedlium3": str(tmp_path / "ted")}, tmp_path / "out")
    assert windows_of(tmp_path / "out") == [
        (0.0, 2.0, "we went to the river"), (2.9, 4.1, "and it was cold so we came home"), (7.8, 1.2, "good night"),
    ]  # the 0.6 s gap at 4.9 s holds nothing dropped: packed as before
    rows = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert [(r["reason"], r["span"]) for r in rows] == [
        ("not_scored", {"audio_root": None, "audio": "data/sph/Talk_2010.sph", "offset": 2.1, "duration": 0.7}),
        ("unusable_markup", {"audio_root": None, "audio": "data/sph/Talk_2010.sph", "offset": 7.1, "duration": 0.6}),
    ]
    assert summary["balanced"] and verify(str(tmp_path / "out")).ok


def test_gigaspeech_window_closes_before_a_garbage_only_segment(tmp_path):
    write_podcast(tmp_path / "giga")
    run_pipeline({"gigaspeech": str(tmp_path / "giga")}, tmp_path / "out")
    assert windows_of(tmp_path / "out") == [(0.0, 2.0, "we went to the river."), (2.9, 2.0, "and it was cold.")]
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert (row["reason"], row["span"]["offset"], row["span"]["duration"]) == ("empty_transcript", 2.1, 0.7)


def test_verify_finds_a_window_built_across_a_dropped_segment(tmp_path, monkeypatch):
    write_podcast(tmp_path / "giga")
    # an output built as before the fix: packing blind to dropped spans runs one window across them
    monkeypatch.setattr(windows, "_holds_dropped", lambda dropped, start, end: False)
    run_pipeline({"gigaspeech": str(tmp_path / "giga")}, tmp_path / "old")
    assert windows_of(tmp_path / "old") == [(0.0, 4.9, "we went to the river. and it was cold.")]
    report = verify(str(tmp_path / "old"))
    assert report.problems == [
        "train/shard-00000-000.tar: window gigaspeech-audio_podcast_POD1-w0000000 runs across a segment dropped at "
        "ingest: 2.10-2.80 s (empty_transcript, GigaSpeech.json:audios[0].segments[1])"
    ]


def test_windows_written_before_spans_were_recorded_are_checked_over_their_whole_stretch():
    dropped = DroppedSpans()
    dropped.spans[("talks", "a.sph")].append((2.1, 2.8, "not_scored, a.stm:2"))
    old = {"dataset": "talks", "meta": {"segments": "talks-1,talks-2"}, "source": {"audio": "a.sph", "offset": 0.0, "duration": 4.9}}
    assert dropped.crossed(old) == ["2.10-2.80 s (not_scored, a.stm:2)"]
    new = {**old, "source": {**old["source"], "spans": [[0.0, 2.0], [2.0, 4.9]]}}  # the dropped span overlaps a kept one
    assert dropped.crossed(new) == []
    assert dropped.crossed({**old, "meta": {}}) == []  # not a window
