"""The warnings of a run's statistics: what to act on before training, most urgent first.

``Thresholds`` says when each fires; every one of its fields is an option of ``audioprep stats``.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from pipelines.core import outputs
from pipelines.report.compute import in_hours, split_key
from pipelines.report.load import Run, StatsError

EVAL_SPLIT_PATTERN = r"(?i)(^|[^a-z])(test|testing|eval|evaluation)($|[^a-z])"
#: Rare labels named in a warning; the rest are counted.
RARE_LISTED = 12
#: Warning kinds, most urgent first (the order of the warnings table).
SEVERITY = (
    "eval_in_train", "eval_audio_in_train", "unbalanced", "tag_sequence_outside_vocabulary", "language_mismatch",
    "quarantine_rate", "task_under_hours", "rare_label",
)


@dataclass(frozen=True)
class Thresholds:
    """When a warning fires; every field is a command-line option of ``audioprep stats``."""

    min_task_hours: float = 1.0  # training audio per task
    min_label_examples: int = 5  # training examples per label of a classification task
    max_quarantine_rate: float = 0.05  # quarantined / input, per corpus
    max_language_mismatch: float = 0.05  # detected != declared, per corpus (when measured)
    eval_split_pattern: str = EVAL_SPLIT_PATTERN  # split names that must never reach training shards

    def __post_init__(self) -> None:
        try:
            re.compile(self.eval_split_pattern)
        except re.error as exc:
            raise StatsError(
                f"--eval-split-pattern {self.eval_split_pattern!r} is not a regular expression: {exc}"
            ) from None


def find_warnings(run: Run, report: dict, limits: Thresholds) -> list[dict]:
    """Each warning as ``{"kind", "subject", "message"}``, in the order of ``SEVERITY``."""
    found = [
        *_unbalanced(run),
        *_tasks_under_hours(run, report, limits),
        *_rare_labels(report, limits),
        *_quarantine_rates(report, limits),
        *_eval_in_train(run, limits),
        *_eval_audio_in_train(report),
        *_outside_vocabulary(report),
        *_language_mismatches(report, limits),
    ]
    return sorted(found, key=lambda w: SEVERITY.index(w["kind"]))  # stable: same kind keeps its order


def _warning(kind: str, subject: str, message: str) -> dict:
    return {"kind": kind, "subject": subject, "message": message}


def _unbalanced(run: Run) -> list[dict]:
    if run.summary.get("balanced", True):
        return []
    message = f"{outputs.SUMMARY}: input != written + quarantined; some records are unaccounted for"
    return [_warning("unbalanced", "run", message)]


def _tasks_under_hours(run: Run, report: dict, limits: Thresholds) -> list[dict]:
    found = []
    for task, row in report["tasks"].items():
        train_seconds = row["train_seconds"]
        if train_seconds is None:  # a run written before audio seconds per task were counted
            train_seconds = run.roles["train"].get("seconds_by_task").get(task, 0)
        if in_hours(train_seconds) < limits.min_task_hours:
            found.append(_warning("task_under_hours", task, (
                f"task {task}: {in_hours(train_seconds):.3f} h of training audio, "
                f"under the minimum of {limits.min_task_hours:g} h (--min-task-hours)"
            )))
    return found


def _rare_labels(report: dict, limits: Thresholds) -> list[dict]:
    found = []
    for task, labels in report["labels"].items():
        rare = sorted(
            (row["train"], label) for label, row in labels.items() if row["train"] < limits.min_label_examples
        )
        if rare:
            listed = ", ".join(f"{label!r} ({n})" for n, label in rare[:RARE_LISTED])
            more = f" and {len(rare) - RARE_LISTED} more (all in --json: labels)" if len(rare) > RARE_LISTED else ""
            found.append(_warning("rare_label", task, (
                f"task {task}: {len(rare)} of {len(labels)} label(s) have fewer than {limits.min_label_examples} "
                f"training examples (--min-label-examples): {listed}{more}"
            )))
    return found


def _quarantine_rates(report: dict, limits: Thresholds) -> list[dict]:
    found = []
    for name, row in report["corpora"].items():
        if row["input"] and row["quarantined"] / row["input"] > limits.max_quarantine_rate:
            most = sorted(report["quarantine"], key=lambda q: -q["records"])
            top = next((q for q in most if q["dataset"] == name), None)
            reason = ""
            if top:
                reason = f"; most often {top['stage']}/{top['reason']} ({top['records']}), see {outputs.QUARANTINE}"
            found.append(_warning("quarantine_rate", name, (
                f"corpus {name}: {row['quarantined']} of {row['input']} records quarantined "
                f"({row['quarantined'] / row['input']:.1%}), above {limits.max_quarantine_rate:.1%} "
                f"(--max-quarantine-rate){reason}"
            )))
    return found


def _eval_audio_in_train(report: dict) -> list[dict]:
    """Bit-identical audio in training and evaluation shards (summary.json ``duplicate_audio``)."""
    pairs = (report["overlaps"]["duplicate_audio"] or {}).get("pairs", {})
    return [
        _warning("eval_audio_in_train", pair, f"{n:,} clip(s) of identical audio in training and evaluation shards "
                 "(audioprep verify --duplicates lists them)")
        for pair, n in sorted(pairs.items()) if pair.startswith("eval ") and " = train " in pair
    ]


def _eval_in_train(run: Run, limits: Thresholds) -> list[dict]:
    """Evaluation data in training shards: by the role its schema declares, or by a split name that
    looks like evaluation (each split named once, by its role if both apply)."""
    pattern = re.compile(limits.eval_split_pattern)
    by_role: dict[str, list] = defaultdict(lambda: [0, []])  # "role/dataset/split" -> [samples, shards]
    by_name: dict[str, list] = defaultdict(lambda: [0, []])  # "dataset/split" -> [samples, shards]
    for shard in run.shards:
        if shard["group"] != "train":
            continue
        for name, count in shard["stats"].get("samples_by_role").items():
            if split_key(name, 2)[0] != "train":
                by_role[name][0] += count
                by_role[name][1].append(shard["path"])
        for name, count in shard["stats"].get("samples_by_split").items():
            if pattern.search(split_key(name, 2)[1]):
                by_name[name][0] += count
                by_name[name][1].append(shard["path"])
    found = []
    for name, (count, paths) in sorted(by_role.items()):
        role, dataset_split = split_key(name, 2)
        found.append(_warning("eval_in_train", dataset_split, (
            f"{count} sample(s) of {role} split {dataset_split} are in {len(paths)} training shard(s), "
            f"first {min(paths)}"
        )))
    flagged = {split_key(name, 2)[1] for name in by_role}
    for name, (count, paths) in sorted(by_name.items()):
        if name not in flagged:
            found.append(_warning("eval_in_train", name, (
                f"split {name} is named like an evaluation split (--eval-split-pattern) but {count} of its samples "
                f"are in {len(paths)} training shard(s), first {min(paths)}; check the schema's `splits`"
            )))
    return found


def _outside_vocabulary(report: dict) -> list[dict]:
    return [
        _warning("tag_sequence_outside_vocabulary", row["prompt"],
                 f"{row['views']} view(s) use a tag sequence outside the vocabulary: {row['problem']}")
        for row in report["tag_sequences"] if not row["in_vocabulary"]
    ]


def _language_mismatches(report: dict, limits: Thresholds) -> list[dict]:
    found = []
    for dataset, declared in report["language_check"]["by_dataset"].items():
        checked = sum(sum(found_.values()) for found_ in declared.values())
        wrong = sum(n for lang, found_ in declared.items() for heard, n in found_.items() if heard != lang)
        if checked and wrong / checked > limits.max_language_mismatch:
            found.append(_warning("language_mismatch", dataset, (
                f"corpus {dataset}: the detected language differs from the declared one in {wrong} of {checked} "
                f"samples ({wrong / checked:.1%}), above {limits.max_language_mismatch:.1%} (--max-language-mismatch)"
            )))
    return found
