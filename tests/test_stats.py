"""`audioprep stats`: statistics of real runs of the demo corpora, exact to the sample."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import webdataset as wds
from PIL import Image

from pipelines.prepare.accounting import Counters, count_sample
from pipelines.demo import write_cochlscene
from pipelines.core.record import Record
from pipelines.report.html import write_html
from pipelines.prepare.stages import Sample
from pipelines.report.build import build_report
from pipelines.report.load import Run, StatsError, load_run
from pipelines.report.sections import sections
from pipelines.report.warnings import Thresholds
from tag_builder.views import View

from conftest import PROJECT, audioprep

ASR_SPOKEN = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"
ASR_WRITTEN = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|itn|>"
CAPTION = "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>"
SCENE = "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"
SCENES = ("bus", "cafe", "crowded indoor", "park", "street", "subway station")
LAX = Thresholds(min_task_hours=0, min_label_examples=0, max_quarantine_rate=1, max_language_mismatch=1)


@pytest.fixture(scope="module")
def report(local_run) -> dict:
    return build_report(load_run(str(local_run)))


@pytest.fixture(scope="module")
def other_run(demo_corpora, tmp_path_factory) -> Path:
    """A second run with schema changes: written-form transcripts, Clotho's evaluation split sent to
    training (a mistake the warnings must catch), and a smaller CochlScene with Park missing from Train."""
    base = tmp_path_factory.mktemp("other")
    librispeech = (PROJECT / "schemas" / "librispeech.yaml").read_text().replace("text_form: spoken", "text_form: written")
    clotho = (PROJECT / "schemas" / "clotho.yaml").read_text().replace("  evaluation: eval", "  evaluation: train").replace("role: eval", "role: train")
    (base / "librispeech.yaml").write_text(librispeech)
    (base / "clotho.yaml").write_text(clotho)
    scenes = base / "CochlScene"
    write_cochlscene(str(scenes), per_scene={"Train": 1, "Test": 1}, corrupt=False)
    shutil.rmtree(scenes / "Train" / "Park")
    out = base / "out"
    audioprep(
        "run", "--engine", "local", "--workers", "1", "--shard-max-samples", "10", "--out", str(out),
        f"--dataset=librispeech:{base / 'librispeech.yaml'}={demo_corpora['librispeech']}",
        f"--dataset=clotho:{base / 'clotho.yaml'}={demo_corpora['clotho']}",
        f"--dataset=cochlscene={scenes}",
    )
    return out


def test_hours_samples_and_views_per_task_corpus_language_and_split(report, local_run):
    shards = json.loads((local_run / "index.json").read_text())["shards"]  # how many: the planner's business
    assert report["run"] == {
        "input": 46, "written": 42, "quarantined": 4, "excluded": 0, "balanced": True, "shards": len(shards),
        "train_shards": sum(s["group"] == "train" for s in shards), "samples": 42, "seconds": 369.0, "train_seconds": 208.0, "views": 66,
    }
    assert report["not_measured"] == []
    tasks = report["tasks"]
    assert {t: (r["samples"], r["views"], r["seconds"], r["view_seconds"], r["train_seconds"]) for t, r in tasks.items()} == {
        "asr": (12, 12, 32.0, 32.0, 22.0),  # LibriSpeech: 2+3+4+2 s per speaker in train, 2+3 s in dev
        "caption_clotho": (6, 30, 97.0, 485.0, 66.0),  # five captions per clip: five views
        "scene": (24, 24, 240.0, 240.0, 120.0),
    }
    assert tasks["scene"]["mean_target_chars"] == 7.5  # (4*3 + 4*4 + 4*14 + 4*4 + 4*6 + 4*14) / 24
    assert report["corpora"]["cochlscene"] == {
        "input": 25, "written": 24, "quarantined": 1, "excluded": 0, "samples": 24, "seconds": 240.0, "train_seconds": 120.0, "eval_seconds": 120.0,
    }
    assert report["audio_languages"] == {
        "en": {"samples": 12, "seconds": 32.0, "train_seconds": 22.0, "eval_seconds": 10.0},
        "none": {"samples": 30, "seconds": 337.0, "train_seconds": 186.0, "eval_seconds": 151.0},
    }
    assert report["text_languages"] == {"en": {"samples": 42, "seconds": 369.0, "train_seconds": 208.0, "eval_seconds": 161.0}}
    splits = report["splits"]
    assert splits["clotho"] == {
        "development": {"samples": 4, "seconds": 66.0, "role": "train", "in_train_shards": 4, "in_eval_shards": 0},
        "evaluation": {"samples": 2, "seconds": 31.0, "role": "eval", "in_train_shards": 0, "in_eval_shards": 2},
    }
    assert {s: r["samples"] for s, r in splits["cochlscene"].items()} == {"Test": 6, "Train": 12, "Val": 6}


def test_tag_sequences_labels_histograms_licences_and_quarantine(report):
    assert report["tag_sequences"] == [
        {"prompt": CAPTION, "tasks": ["caption_clotho"], "views": 30, "tokens": 6, "in_vocabulary": True, "problem": None},
        {"prompt": SCENE, "tasks": ["scene"], "views": 24, "tokens": 6, "in_vocabulary": True, "problem": None},
        {"prompt": ASR_SPOKEN, "tasks": ["asr"], "views": 12, "tokens": 6, "in_vocabulary": True, "problem": None},
    ]
    assert report["labels"] == {"scene": {label: {"views": 4, "train": 2, "eval": 2} for label in SCENES}}
    assert report["durations"] == {"clotho": {"15-20": 6}, "cochlscene": {"10-12": 24}, "librispeech": {"2-3": 6, "3-4": 4, "4-5": 2}}
    assert report["duration_buckets"][:3] == ["0-1", "1-2", "2-3"] and report["duration_buckets"][-1] == "30+"
    assert report["target_lengths"]["scene"] == {"0-10": 16, "10-20": 8}
    assert sum(report["target_lengths"]["caption_clotho"].values()) == 30
    check = report["language_check"]  # language identification ran on the LibriSpeech transcripts
    assert (check["measured"], check["checked"], check["mismatched"], check["by_dataset"]) == (True, 12, 0, {"librispeech": {"en": {"en": 12}}})
    assert sum(check["verdicts"]["librispeech"]["text"].values()) == 12
    assert report["licenses"]["CC-BY-4.0"] == {"datasets": ["librispeech"], "samples": 12, "seconds": 32.0, "train_seconds": 22.0}
    assert report["licenses"]["CC-BY-SA-3.0"] == {"datasets": ["cochlscene"], "samples": 24, "seconds": 240.0, "train_seconds": 120.0}
    assert [(q["dataset"], q["stage"], q["reason"], q["records"]) for q in report["quarantine"]] == [
        ("clotho", "audio", "too_long", 1), ("cochlscene", "audio", "undecodable", 1), ("librispeech", "ingest", "audio_missing", 2),
    ]
    assert "very long field recording.wav" in report["quarantine"][0]["example"]


def test_counters_match_the_shards_themselves(local_run):
    """The counters gathered while writing agree with a reading of every sample in every shard."""
    index = json.loads((local_run / "index.json").read_text())
    stats = json.loads((local_run / "stats.json").read_text())
    seconds, labels, groups = {}, {}, set()
    for shard in index["shards"]:
        for row in wds.WebDataset(str(local_run / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            seconds[meta["dataset"]] = seconds.get(meta["dataset"], 0) + meta["duration"]
            groups.add((shard["group"] == "train", meta["role"] == "train"))
            for view in meta["tasks"]:
                if view["task"] == "scene":
                    labels[view["target"]] = labels.get(view["target"], 0) + 1
    assert {k: round(v, 3) for k, v in seconds.items()} == stats["total"]["seconds_by_dataset"]
    assert {f"scene/{k}": v for k, v in labels.items()} == stats["total"]["views_by_label"]
    assert groups == {(True, True), (False, False)}
    merged = Counters.merge(Counters(s) for s in stats["shards"].values())
    assert merged.to_dict() == stats["total"]


def test_warnings_name_what_to_act_on(report, local_run):
    kinds = {}
    for warning in report["warnings"]:
        kinds.setdefault(warning["kind"], set()).add(warning["subject"])
    assert kinds == {
        "task_under_hours": {"asr", "caption_clotho", "scene"},  # default minimum 1 h
        "rare_label": {"scene"},  # 2 training examples per label, minimum 5
        "quarantine_rate": {"clotho", "librispeech"},  # 1/7 and 2/14 over 5 %; cochlscene 1/25 = 4 % is not
    }
    rare = next(w for w in report["warnings"] if w["kind"] == "rare_label")
    assert rare["message"].startswith("task scene: 6 of 6 label(s) have fewer than 5 training examples (--min-label-examples): 'bus' (2), 'cafe' (2)")
    clotho = next(w for w in report["warnings"] if w["subject"] == "clotho")
    assert "1 of 7 records quarantined (14.3%)" in clotho["message"] and "audio/too_long" in clotho["message"]
    run = load_run(str(local_run))
    assert build_report(run, LAX)["warnings"] == []
    some = build_report(run, Thresholds(min_task_hours=0.01, min_label_examples=2, max_quarantine_rate=0.2))
    assert [(w["kind"], w["subject"]) for w in some["warnings"]] == [("task_under_hours", "asr")]  # 22 s < 36 s
    assert "0.006 h of training audio" in some["warnings"][0]["message"]


def test_an_evaluation_split_in_training_shards_is_flagged(other_run, local_run, tmp_path):
    other = build_report(load_run(str(other_run)), LAX)
    assert other["splits"]["clotho"]["evaluation"] == {"samples": 2, "seconds": 31.0, "role": "train", "in_train_shards": 2, "in_eval_shards": 0}
    flagged = [w for w in other["warnings"] if w["kind"] == "eval_in_train"]
    assert len(flagged) == 1 and flagged[0]["subject"] == "clotho/evaluation"
    assert re.fullmatch(r"split clotho/evaluation is named like an evaluation split \(--eval-split-pattern\) but 2 of its samples are in [12] "
                        r"training shard\(s\), first train/shard-\d{5}-\d{3}\.tar; check the schema's `splits`", flagged[0]["message"])
    # a shard of evaluation data filed with the training shards (its samples still say role eval)
    copy = tmp_path / "moved"
    shutil.copytree(local_run, copy, ignore=shutil.ignore_patterns("*.tar", "_work", "manifests"))
    index = json.loads((copy / "index.json").read_text())
    moved = next(s for s in index["shards"] if s["group"] == "eval/librispeech/dev-clean-2")
    moved["group"] = "train"
    (copy / "index.json").write_text(json.dumps(index))
    warnings = build_report(load_run(str(copy)), LAX)["warnings"]
    assert [(w["kind"], w["subject"]) for w in warnings] == [("eval_in_train", "librispeech/dev-clean-2")]
    assert f"4 sample(s) of eval split librispeech/dev-clean-2 are in 1 training shard(s), first {moved['path']}" == warnings[0]["message"]


def test_compare_shows_hours_sequences_and_label_shifts(other_run, local_run):
    change = build_report(load_run(str(other_run)), LAX, baseline=load_run(str(local_run)))["compare"]
    assert change["tasks"]["caption_clotho"]["train_seconds"] == {"before": 66.0, "after": 97.0, "change": 31.0}
    assert change["tasks"]["scene"]["seconds"] == {"before": 240.0, "after": 110.0, "change": -130.0}
    assert change["tasks"]["asr"]["views"] == {"before": 12, "after": 12, "change": 0}
    assert change["corpora"]["cochlscene"]["samples"] == {"before": 24, "after": 11, "change": -13}
    assert change["corpora"]["librispeech"]["seconds"] == {"before": 32.0, "after": 32.0, "change": 0.0}
    assert change["tag_sequences"] == {
        "new": {ASR_WRITTEN: 12}, "vanished": {ASR_SPOKEN: 12}, "changed": {SCENE: {"before": 24, "after": 11}},
    }
    assert change["labels"]["scene"]["park"] == {"before": 4, "after": 1, "share_before": 0.1667, "share_after": 0.0909}
    assert change["labels"]["scene"]["bus"] == {"before": 4, "after": 2, "share_before": 0.1667, "share_after": 0.1818}


@dataclass(frozen=True)
class HeardSample(Sample):
    """A sample as language identification leaves it: ``detected_language`` is all the counters read."""

    heard: str | None = None

    @property
    def detected_language(self) -> str | None:
        return self.heard


def test_declared_vs_detected_language_is_counted_when_a_sample_carries_it():
    def sample(key: str, detected: str | None) -> Sample:
        record = Record("speech", "train", "train", key, f"{key}.flac", language="en", text_language="en", license="CC0")
        return HeardSample(record, (View("asr", ASR_SPOKEN, "hello"),), b"", 16000 * 3, heard=detected)

    counters = Counters()
    for key, detected in (("a", "en"), ("b", "en"), ("c", "de"), ("d", None)):
        count_sample(counters, sample(key, detected))
    assert counters.get("samples_by_language_check") == {"speech/en/en": 2, "speech/en/de": 1}
    shard = {"path": "train/shard-00000-000.tar", "group": "train", "samples": 4, "seconds": 12.0, "stats": counters}
    run = Run("out", {"datasets": {"speech": {"input": 4, "written": 4, "quarantined": 0}}, "balanced": True}, [], [shard], counters, {"train": counters, "eval": Counters()})
    report = build_report(run, Thresholds(min_task_hours=0, max_language_mismatch=0.2))
    assert report["language_check"] == {"measured": True, "checked": 3, "mismatched": 1, "by_dataset": {"speech": {"en": {"de": 1, "en": 2}}}, "verdicts": {}}
    assert [w["kind"] for w in report["warnings"]] == ["language_mismatch"]
    assert "differs from the declared one in 1 of 3 samples (33.3%)" in report["warnings"][0]["message"]
    counters.add("samples_by_flag", "speech/silent")  # what a stage that keeps but flags a sample counts
    assert build_report(run, LAX)["flags"] == {"speech": {"silent": 1}}
    assert [t.rows for s in sections(build_report(run, LAX)) if s.id == "flags" for t in s.tables] == [[["speech", "silent", "1"]]]
    check = next(s for s in sections(report) if s.id == "language_check")
    assert check.tables[0].rows == [["speech", "en", "de", "1"], ["speech", "en", "en", "2"]]


def test_a_translation_counts_in_the_language_of_its_target():
    record = Record("speech", "train", "train", "k", "k.flac", language="de", text_language="de", text="guten morgen",
                    translation="good morning", translation_language="en", license="CC0")
    views = (
        View("asr", "<|startoftranscript|><|de|><|transcribe|><|de|><|notimestamps|><|wo_itn|>", "guten morgen"),
        View("s2tt", "<|startoftranscript|><|de|><|translate|><|en|><|notimestamps|><|itn|>", "good morning"),
    )
    counters = Counters()
    count_sample(counters, Sample(record, views, b"", 16000 * 2))
    assert counters.get("samples_by_text_language") == {"de": 1, "en": 1}
    assert counters.get("seconds_by_text_language") == {"de": 2.0, "en": 2.0}
    assert counters.get("samples_by_audio_language") == {"de": 1}


def test_command_prints_tables_and_writes_json(other_run, local_run, tmp_path):
    json_path, html_path = tmp_path / "stats.json", tmp_path / "report.html"
    result = audioprep("stats", str(other_run), "--compare", str(local_run), "--json", str(json_path), "--html", str(html_path),
                       "--min-label-examples", "2", env={"COLUMNS": "200"})
    expected = build_report(load_run(str(other_run)), Thresholds(min_label_examples=2), baseline=load_run(str(local_run)))
    assert json.loads(json_path.read_text()) == expected
    again = tmp_path / "again.html"  # the same page, byte for byte, from the library
    write_html(str(again), sections(expected), "audioprep stats", f"{other_run}, compared with {local_run}")
    assert again.read_bytes() == html_path.read_bytes()
    assert json_path.read_text().startswith('{\n "audio_languages"')  # sorted keys
    assert {w["kind"] for w in expected["warnings"]} == {"task_under_hours", "quarantine_rate", "rare_label", "eval_in_train"}
    assert expected["warnings"][0]["kind"] == "eval_in_train"  # the most urgent first
    for text in ("hours and samples per task", "caption_clotho", "0.027", "eval_in_train", "label shifts", "vanished", ASR_WRITTEN, "Declared vs detected language"):
        assert text in result.stdout, text
    failing = audioprep("stats", str(other_run), "--fail-on-warnings", check=False)
    assert failing.returncode == 1 and "warning(s)" in failing.stderr


def test_a_missing_or_broken_file_is_named(local_run, tmp_path):
    with pytest.raises(StatsError, match=r"index\.json: missing"):
        load_run(str(tmp_path))
    copy = tmp_path / "copy"
    shutil.copytree(local_run, copy, ignore=shutil.ignore_patterns("*.tar", "_work", "manifests"))
    (copy / "stats.json").write_text("{not json")
    with pytest.raises(StatsError, match=r"stats\.json: cannot be read"):
        load_run(str(copy))
    result = audioprep("stats", str(copy), check=False)
    assert result.returncode == 2 and f"{copy / 'stats.json'}: cannot be read" in result.stderr  # one line: the path copies whole
    result = audioprep("stats", str(local_run), "--eval-split-pattern", "(test", check=False)
    assert result.returncode == 2 and "--eval-split-pattern '(test' is not a regular expression" in " ".join(result.stderr.split())


def test_a_run_written_before_the_new_counters_says_not_measured(local_run, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(local_run, copy, ignore=shutil.ignore_patterns("*.tar", "_work", "manifests"))
    old = ("samples_by_dataset", "seconds_by_dataset", "samples_by_split", "views_by_task", "seconds_by_task", "views_by_prompt")
    stats = json.loads((copy / "stats.json").read_text())
    strip = lambda counters: {k: v for k, v in counters.items() if k in old}  # noqa: E731
    (copy / "stats.json").write_text(json.dumps({"total": strip(stats["total"]), "shards": {p: strip(s) for p, s in stats["shards"].items()}}))
    report = build_report(load_run(str(copy)))
    assert "views_by_label" in report["not_measured"] and report["labels"] == {} and report["audio_languages"] == {}
    assert report["tasks"]["scene"]["views"] == 24 and report["tasks"]["scene"]["train_seconds"] is None
    notes = {s.id: s.note for s in sections(report)}
    assert notes["durations"].startswith("not measured") and notes["audio_languages"].startswith("not measured")
    assert ("task_under_hours", "scene") in {(w["kind"], w["subject"]) for w in report["warnings"]}


# --- the HTML page in a real browser ------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; `make test` installs it when run as root with apt-get)"
)
# Added to a copy of the page only: the page itself has no script. Marks how many images the browser decoded.
PROBE = """<script>window.addEventListener("load", () => {
  const decoded = [...document.images].filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.setAttribute("data-decoded", decoded.length + "/" + document.images.length);
  document.body.setAttribute("data-widths", decoded.map(i => i.naturalWidth).join(","));
});</script>"""


def chromium(tmp_path: Path, *args: str) -> str:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        raise AssertionError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


class Page(HTMLParser):
    """Images, table captions, cells and every external reference of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.captions, self.cells, self.links, self.body = [], [], [], [], {}
        self._text = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.links.append(attrs[name])
        if tag in ("caption", "td"):
            self._text = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("caption", "td") and self._text is not None:
            (self.captions if tag == "caption" else self.cells).append("".join(self._text).strip())
            self._text = None


@needs_chromium
def test_html_page_renders_offline_with_plots_and_tables_in_chromium(other_run, local_run, tmp_path):
    report = build_report(load_run(str(other_run)), baseline=load_run(str(local_run)))
    parts = sections(report)
    page = tmp_path / "report.html"
    write_html(str(page), parts, "audioprep stats", str(other_run))
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html) and "<script" not in html and "<link" not in html
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = Page()
    dom.feed(chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()))
    charts = sum(len(s.charts) for s in parts)
    # tasks, 2 languages, corpora, labels, durations, target lengths, 9 quality metrics, quarantine, licences, 2 compared
    assert charts == 20
    assert dom.body.get("data-decoded") == f"{charts}/{charts}"  # every plot decoded by the browser
    assert all(int(w) >= 600 for w in dom.body["data-widths"].split(","))
    for image in dom.images:
        assert image["src"].startswith("data:image/png;base64,")
        picture = Image.open(io.BytesIO(base64.b64decode(image["src"].split(",", 1)[1])))
        assert picture.format == "PNG" and len(picture.convert("L").getcolors(256)) > 10  # not blank
    assert all(not link.startswith(("http:", "https:", "//")) for link in dom.links)
    for caption in ("hours and samples per task", "records and hours per corpus", "top tag sequences", "labels of scene (6)",
                    "quarantined records per corpus, stage and reason", "hours per licence", "tag sequences that changed", "label shifts"):
        assert caption in dom.captions, caption
    assert "crowded indoor" in dom.cells and "eval_in_train" in dom.cells and "CC-BY-SA-3.0" in dom.cells
    assert ASR_WRITTEN in dom.cells and "new" in dom.cells and "vanished" in dom.cells
    shot = tmp_path / "page.png"
    chromium(tmp_path, "--window-size=1000,3000", f"--screenshot={shot}", page.as_uri())
    screenshot = Image.open(shot).convert("L")
    assert screenshot.size == (1000, 3000) and len(screenshot.getcolors(256)) > 50
