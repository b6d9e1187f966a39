"""Qwen-Audio's evaluation JSONL: what its ``eval_audio/evaluate_*.py`` scripts read, per evaluation set.

A script reads ``data/<folder>/<collection>_eval.jsonl`` (relative to where it runs) with rows
``{"audio", "source", "gt"}`` (``"question"`` too for audio QA) and builds the prompt itself
(spec section 4). So each task with a published script gets one file per corpus, every evaluation
split of the corpus in it, ``source`` naming corpus and split (the scripts score per source):
``{dataset}_{split}``, and for translation ``{dataset}_{src}_{tgt}_{split}``, as ``evaluate_st.py``
takes the languages from ``source.split("_")[-3]`` and ``[-2]``. A caption's ``gt`` is the list of
all reference captions of the clip (the caption script scores against several). A view whose prompt
differs from the one the script would build (an ASR set in written form, a language other than the
script's) is still written and counted; tasks no script evaluates are left out and counted.
``qwen-audio-eval.json`` lists each file with its script and the ``ds_collections`` entry to add.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterator

from tag_builder.views import question_text, tag_sequence
from tag_builder.vocabulary import split_tokens

from pipelines.core.outputs import safe_name
from pipelines.reader.shards import RawSample

MANIFEST = "qwen-audio-eval.json"


@dataclass(frozen=True)
class Script:
    script: str
    folder: str  # data/<folder>/ as the script's ds_collections spell it
    prompt: str  # the script's prompt after </audio>: {lang}, {src}, {tgt}, {question} from the row
    references: bool = False  # gt is the list of every target of the clip (captions)


SCRIPTS: dict[str, Script] = {
    "asr": Script("evaluate_asr.py", "asr", "<|startoftranscript|><|{lang}|><|transcribe|><|{lang}|><|notimestamps|><|wo_itn|>"),
    "s2tt": Script("evaluate_st.py", "st", "<|startoftranscript|><|{src}|><|translate|><|{tgt}|><|notimestamps|><|itn|>"),
    "srwt": Script("evaluate_srwt.py", "srwt", "<|startoftranscript|><|{lang}|><|transcribe|><|{lang}|><|timestamps|>"),
    "caption_clotho": Script(
        "evaluate_caption.py", "caption", "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>", True
    ),
    "caption_audiocaps": Script(
        "evaluate_caption.py", "caption", "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_audiocaps|>", True
    ),
    "scene": Script("evaluate_scene.py", "asc", "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"),
    "emotion": Script("evaluate_emotion.py", "emotion", "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>"),
    "vocal_sound": Script(
        "evaluate_vocal_sound.py", "vsc", "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>"
    ),
    "aqa": Script("evaluate_aqa.py", "st", "<|startofanalysis|><|en|><|question|>{question}<|answer|>"),
    "note_analysis": Script(
        "evaluate_note_analysis.py", "mna", "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>"
    ),
}


class ExportError(ValueError):
    pass


def _code(token: str) -> str:
    return token[2:-2]


def source_name(task: str, meta: dict, prompt: str) -> str:
    """The row's ``source``: corpus and split, with the languages first for translation."""
    dataset, split = meta["dataset"], meta["split"].replace("_", "-")
    if task != "s2tt":
        return f"{dataset}_{split}"
    tokens = split_tokens(prompt)
    src, tgt = _code(tokens[1]), _code(tokens[3])
    source = f"{dataset}_{src}_{tgt}_{split}"
    if source.split("_")[-3:-1] != [src, tgt]:
        raise ExportError(f"{meta['key']}: evaluate_st.py splits source on '_' and cannot read languages {src!r}, {tgt!r}")
    return source


def script_prompt(task: str, prompt: str) -> str:
    """The prompt the task's script builds for this view's row (the collection language set to the view's)."""
    tokens = split_tokens(tag_sequence(prompt))
    fields = {"lang": _code(tokens[1]), "question": question_text(prompt) or ""}
    if task == "s2tt":
        fields.update(src=_code(tokens[1]), tgt=_code(tokens[3]))
    return SCRIPTS[task].prompt.format(**fields)


class QwenAudioEval:
    name = "qwen-audio-eval"
    evaluation_only = True
    split_files = False  # the scripts read one file per collection

    def __init__(self):
        self.left_out: Counter = Counter()
        self.prompts_differ: Counter = Counter()
        self.languages: dict[str, Counter] = defaultdict(Counter)
        self.tasks: dict[str, str] = {}  # series -> task

    def sets(self, available: list[str]) -> list[str]:
        return [group for group in available if group != "train"]

    def series(self, task: str, meta: dict) -> str:
        return f"data/{SCRIPTS[task].folder}/{safe_name(meta['dataset'])}_eval"

    def rows(self, group: str, sample: RawSample, audio: str) -> Iterator[tuple[str, dict]]:
        references: dict[str, list[str]] = {}
        for view in sample.meta["tasks"]:
            task, prompt = view["task"], view["prompt"]
            if task not in SCRIPTS:
                self.left_out[task] += 1
                continue
            series = self.series(task, sample.meta)
            self.tasks[series] = task
            if script_prompt(task, prompt) != prompt:
                self.prompts_differ[series] += 1
            self.languages[series][_code(split_tokens(tag_sequence(prompt))[1])] += 1
            if SCRIPTS[task].references:
                references.setdefault(task, []).append(view["target"])
                continue
            row = {"audio": audio, "source": source_name(task, sample.meta, prompt), "gt": view["target"]}
            if question_text(prompt) is not None:
                row["question"] = question_text(prompt).strip()
            yield series, row
        for task, targets in references.items():
            source = source_name(task, sample.meta, sample.meta["tasks"][0]["prompt"])
            yield self.series(task, sample.meta), {"audio": audio, "source": source, "gt": targets}

    def finish(self, destination, files: dict[str, list[str]]) -> dict:
        collections = {}
        for series, written in sorted(files.items()):
            name = series.rsplit("/", 1)[1][: -len("_eval")]
            script = SCRIPTS[self.tasks[series]].script
            entry = {"path": written[0]}
            if script in ("evaluate_asr.py", "evaluate_srwt.py"):
                entry["language"] = self.languages[series].most_common(1)[0][0]
            if SCRIPTS[self.tasks[series]].references:  # the caption script's style: clotho, audiocaps
                entry["style"] = self.tasks[series].removeprefix("caption_")
            collections[written[0]] = {
                "script": script, "ds_collections": {name: entry}, "prompts_differ": self.prompts_differ[series],
            }
        manifest = {"collections": collections, "left_out_views": dict(sorted(self.left_out.items()))}
        destination.write_json(MANIFEST, manifest)
        return {"manifest": MANIFEST, "left_out_views": manifest["left_out_views"],
                "prompts_differ": sum(self.prompts_differ.values())}
