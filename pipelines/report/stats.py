"""``audioprep stats``: what a finished run holds, from its index, stats, summary and quarantine.

Reads only the small files ``finalize`` wrote (never a shard), so it takes seconds on any run. The
per-shard counters of ``stats.json`` (see ``accounting.count_sample``) are merged by the group of
their shard in ``index.json``, which tells training from evaluation data. ``build_report`` returns a
JSON-ready dict (what ``--json`` writes); ``sections`` turns it into titled tables and chart data that
the terminal and the HTML page (``report_html``) both show, so the two never disagree.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from tag_builder.vocabulary import UnknownTokenError, split_tokens

from pipelines.core import outputs
from pipelines.prepare.accounting import (
    DURATION_EDGES,
    NO_SPEECH,
    SEP,
    TARGET_LENGTH_EDGES,
    Counters,
    bucket_names,
)
from pipelines.core.atomic import read_json, read_jsonl

EVAL_SPLIT_PATTERN = r"(?i)(^|[^a-z])(test|testing|eval|evaluation)($|[^a-z])"


class StatsError(ValueError):
    """A run's files cannot be read; the message names the file and the reason."""


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
            raise StatsError(f"--eval-split-pattern {self.eval_split_pattern!r} is not a regular expression: {exc}") from None


@dataclass
class Run:
    """A finished run's statistics: counters overall and per role of the shard that holds them."""

    out: str
    summary: dict
    quarantine: list[dict]
    shards: list[dict]  # index rows, each with its "stats" (Counters)
    total: Counters
    roles: dict[str, Counters]  # "train" / "eval" -> counters of those shards


def _read(path: str, reader):
    if not os.path.exists(path):
        raise StatsError(f"{path}: missing; is {os.path.dirname(path) or '.'} the output folder of a finished `audioprep run`?")
    try:
        return reader(path)
    except (OSError, ValueError) as exc:
        raise StatsError(f"{path}: cannot be read: {exc}") from None


def load_run(out: str) -> Run:
    index = _read(os.path.join(out, outputs.INDEX), read_json)
    stats = _read(os.path.join(out, outputs.STATS), read_json)
    summary = _read(os.path.join(out, outputs.SUMMARY), read_json)
    quarantine = _read(os.path.join(out, outputs.QUARANTINE), lambda p: list(read_jsonl(p)))
    per_shard = stats.get("shards", {}) if isinstance(stats, dict) else {}
    shards, roles = [], {"train": Counters(), "eval": Counters()}
    for row in index.get("shards", []):
        if row["path"] not in per_shard:
            raise StatsError(f"{os.path.join(out, outputs.STATS)}: no statistics for shard {row['path']} listed in {outputs.INDEX}")
        counters = Counters(per_shard[row["path"]])
        shards.append({**row, "stats": counters})
        roles["train" if row["group"] == "train" else "eval"] += counters
    total = Counters.merge(roles.values())
    return Run(out, summary, quarantine, shards, total, roles)


# --- the report: plain data ------------------------------------------------------------------


def _split(name: str, parts: int) -> list[str]:
    return name.split(SEP, parts - 1)


def _by(run: Run, samples: str, seconds: str) -> dict[str, dict]:
    """Samples and seconds per key of two families, overall and in training / evaluation shards."""
    count_, total = run.total.get(samples), run.total.get(seconds)
    train, evaluation = run.roles["train"].get(seconds), run.roles["eval"].get(seconds)
    return {
        key: {"samples": count_.get(key, 0), "seconds": total.get(key, 0), "train_seconds": train.get(key, 0), "eval_seconds": evaluation.get(key, 0)}
        for key in sorted(set(count_) | set(total))
    }


def _tasks(run: Run) -> dict[str, dict]:
    total, train = run.total, run.roles["train"]
    tasks = {}
    for task in sorted(set(total.get("views_by_task")) | set(total.get("samples_by_task"))):
        views = total.get("views_by_task").get(task, 0)
        chars = total.get("target_chars_by_task").get(task)
        tasks[task] = {
            "samples": total.get("samples_by_task").get(task),
            "views": views,
            "seconds": total.get("audio_seconds_by_task").get(task),
            "view_seconds": total.get("seconds_by_task").get(task, 0),
            "train_seconds": train.get("audio_seconds_by_task").get(task, 0) if "audio_seconds_by_task" in total.data else None,
            "train_views": train.get("views_by_task").get(task, 0),
            "mean_target_chars": round(chars / views, 1) if chars is not None and views else None,
        }
    return tasks


def _corpora(run: Run) -> dict[str, dict]:
    corpora = {}
    datasets = run.summary.get("datasets", {})
    for name in sorted(set(datasets) | set(run.total.get("samples_by_dataset"))):
        counts = datasets.get(name, {})
        corpora[name] = {
            "input": counts.get("input", 0),
            "written": counts.get("written", 0),
            "quarantined": counts.get("quarantined", 0),
            "excluded": counts.get("excluded", 0),  # left out by corpus weighting (caps)
            "samples": run.total.get("samples_by_dataset").get(name, 0),
            "seconds": run.total.get("seconds_by_dataset").get(name, 0),
            "train_seconds": run.roles["train"].get("seconds_by_dataset").get(name, 0),
            "eval_seconds": run.roles["eval"].get("seconds_by_dataset").get(name, 0),
        }
    return corpora


def _splits(run: Run) -> dict[str, dict[str, dict]]:
    roles = {}
    for name in run.total.get("samples_by_role"):
        role, dataset_split = _split(name, 2)
        roles[dataset_split] = role
    splits: dict[str, dict[str, dict]] = defaultdict(dict)
    seconds = run.total.get("seconds_by_split")
    train, evaluation = run.roles["train"].get("samples_by_split"), run.roles["eval"].get("samples_by_split")
    for name, samples in sorted(run.total.get("samples_by_split").items()):
        dataset, split = _split(name, 2)
        splits[dataset][split] = {
            "samples": samples,
            "seconds": seconds.get(name),
            "role": roles.get(name),
            "in_train_shards": train.get(name, 0),
            "in_eval_shards": evaluation.get(name, 0),
        }
    return dict(splits)


def _tag_sequences(run: Run) -> list[dict]:
    tasks: dict[str, list[str]] = defaultdict(list)
    for name in run.total.get("views_by_task_prompt"):
        task, prompt = _split(name, 2)
        tasks[prompt].append(task)
    rows = []
    for prompt, views in run.total.get("views_by_prompt").items():
        try:
            tokens, problem = split_tokens(prompt), None
        except UnknownTokenError as exc:
            tokens, problem = [], str(exc)
        rows.append({"prompt": prompt, "tasks": sorted(tasks[prompt]), "views": views, "tokens": len(tokens), "in_vocabulary": problem is None, "problem": problem})
    rows.sort(key=lambda r: (-r["views"], r["prompt"]))
    return rows


def _labels(run: Run) -> dict[str, dict[str, dict]]:
    labels: dict[str, dict[str, dict]] = defaultdict(dict)
    train, evaluation = run.roles["train"].get("views_by_label"), run.roles["eval"].get("views_by_label")
    for name, count in sorted(run.total.get("views_by_label").items()):
        task, label = _split(name, 2)
        labels[task][label] = {"views": count, "train": train.get(name, 0), "eval": evaluation.get(name, 0)}
    return dict(labels)


def _histogram(counters: Counters, family: str) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for name, count in counters.get(family).items():
        key, bucket = _split(name, 2)
        result[key][bucket] = count
    return dict(result)


def _language_check(run: Run) -> dict:
    rows: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, count in run.total.get("samples_by_language_check").items():
        dataset, declared, detected = _split(name, 3)
        rows[dataset][declared][detected] = count
    checked = sum(run.total.get("samples_by_language_check").values())
    mismatched = sum(
        count for name, count in run.total.get("samples_by_language_check").items() if _split(name, 3)[1] != _split(name, 3)[2]
    )
    verdicts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, count in run.total.get("samples_by_language_verdict").items():
        dataset, text, verdict = _split(name, 3)
        verdicts[dataset][text][verdict] = count
    return {
        "measured": checked > 0,
        "checked": checked,
        "mismatched": mismatched,
        "by_dataset": {d: {k: dict(v) for k, v in langs.items()} for d, langs in sorted(rows.items())},
        "verdicts": {d: {k: dict(v) for k, v in texts.items()} for d, texts in sorted(verdicts.items())},
    }


def _flags(run: Run) -> dict[str, dict[str, int]]:
    """Samples kept with a flag worth a look (e.g. silent audio), per corpus."""
    flags: dict[str, dict[str, int]] = defaultdict(dict)
    for name, count in sorted(run.total.get("samples_by_flag").items()):
        dataset, flag = _split(name, 2)
        flags[dataset][flag] = count
    return dict(flags)


def _quarantine(run: Run) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for row in run.quarantine:
        key = (row.get("dataset", ""), row.get("stage", ""), row.get("reason", ""))
        entry = groups.setdefault(key, {"dataset": key[0], "stage": key[1], "reason": key[2], "records": 0, "example": row.get("detail", "")})
        entry["records"] += 1
    return sorted(groups.values(), key=lambda r: (r["dataset"], r["stage"], -r["records"], r["reason"]))


def _licenses(run: Run) -> dict[str, dict]:
    licenses: dict[str, dict] = {}
    train = run.roles["train"].get("seconds_by_license")
    seconds = run.total.get("seconds_by_license")
    for name, samples in sorted(run.total.get("samples_by_license").items()):
        dataset, license_ = _split(name, 2)
        entry = licenses.setdefault(license_, {"datasets": [], "samples": 0, "seconds": 0.0, "train_seconds": 0.0})
        entry["datasets"].append(dataset)
        entry["samples"] += samples
        entry["seconds"] = round(entry["seconds"] + seconds.get(name, 0), 3)
        entry["train_seconds"] = round(entry["train_seconds"] + train.get(name, 0), 3)
    return licenses


# Families written by ``count_sample``; a run made before one existed reports it as not measured.
FAMILIES = (
    "samples_by_task", "audio_seconds_by_task", "samples_by_audio_language", "samples_by_text_language",
    "seconds_by_split", "samples_by_role", "samples_by_license", "views_by_label", "samples_by_duration",
    "views_by_target_length", "views_by_task_prompt",
)


def _hours(seconds: float) -> float:
    return seconds / 3600


def _warnings(run: Run, report: dict, limits: Thresholds) -> list[dict]:
    found = []

    def warn(kind: str, subject: str, message: str) -> None:
        found.append({"kind": kind, "subject": subject, "message": message})

    if not run.summary.get("balanced", True):
        warn("unbalanced", "run", f"{outputs.SUMMARY}: input != written + quarantined; some records are unaccounted for")
    for task, row in report["tasks"].items():
        train_seconds = row["train_seconds"]
        if train_seconds is None:  # a run written before audio seconds per task were counted
            train_seconds = run.roles["train"].get("seconds_by_task").get(task, 0)
        if _hours(train_seconds) < limits.min_task_hours:
            warn("task_under_hours", task, f"task {task}: {_hours(train_seconds):.3f} h of training audio, under the minimum of {limits.min_task_hours:g} h (--min-task-hours)")
    for task, labels in report["labels"].items():
        rare = sorted((row["train"], label) for label, row in labels.items() if row["train"] < limits.min_label_examples)
        if rare:
            listed = ", ".join(f"{label!r} ({n})" for n, label in rare[:RARE_LISTED])
            more = f" and {len(rare) - RARE_LISTED} more (all in --json: labels)" if len(rare) > RARE_LISTED else ""
            warn("rare_label", task, f"task {task}: {len(rare)} of {len(labels)} label(s) have fewer than {limits.min_label_examples} training examples (--min-label-examples): {listed}{more}")
    for name, row in report["corpora"].items():
        if row["input"] and row["quarantined"] / row["input"] > limits.max_quarantine_rate:
            top = next((q for q in sorted(report["quarantine"], key=lambda q: -q["records"]) if q["dataset"] == name), None)
            reason = f"; most often {top['stage']}/{top['reason']} ({top['records']}), see {outputs.QUARANTINE}" if top else ""
            warn("quarantine_rate", name, f"corpus {name}: {row['quarantined']} of {row['input']} records quarantined ({row['quarantined'] / row['input']:.1%}), above {limits.max_quarantine_rate:.1%} (--max-quarantine-rate){reason}")
    pattern = re.compile(limits.eval_split_pattern)
    by_role: dict[str, list] = defaultdict(lambda: [0, []])  # "role/dataset/split" -> [samples, shards]
    by_name: dict[str, list] = defaultdict(lambda: [0, []])  # "dataset/split" -> [samples, shards]
    for shard in run.shards:
        if shard["group"] != "train":
            continue
        for name, count in shard["stats"].get("samples_by_role").items():
            if _split(name, 2)[0] != "train":
                by_role[name][0] += count
                by_role[name][1].append(shard["path"])
        for name, count in shard["stats"].get("samples_by_split").items():
            if pattern.search(_split(name, 2)[1]):
                by_name[name][0] += count
                by_name[name][1].append(shard["path"])
    for name, (count, paths) in sorted(by_role.items()):
        role, dataset_split = _split(name, 2)
        warn("eval_in_train", dataset_split, f"{count} sample(s) of {role} split {dataset_split} are in {len(paths)} training shard(s), first {min(paths)}")
    flagged = {_split(name, 2)[1] for name in by_role}
    for name, (count, paths) in sorted(by_name.items()):
        if name not in flagged:
            warn("eval_in_train", name, f"split {name} is named like an evaluation split (--eval-split-pattern) but {count} of its samples are in {len(paths)} training shard(s), first {min(paths)}; check the schema's `splits`")
    for row in report["tag_sequences"]:
        if not row["in_vocabulary"]:
            warn("tag_sequence_outside_vocabulary", row["prompt"], f"{row['views']} view(s) use a tag sequence outside the vocabulary: {row['problem']}")
    for dataset, declared in report["language_check"]["by_dataset"].items():
        checked = sum(sum(found_.values()) for found_ in declared.values())
        wrong = sum(n for lang, found_ in declared.items() for heard, n in found_.items() if heard != lang)
        if checked and wrong / checked > limits.max_language_mismatch:
            warn("language_mismatch", dataset, f"corpus {dataset}: the detected language differs from the declared one in {wrong} of {checked} samples ({wrong / checked:.1%}), above {limits.max_language_mismatch:.1%} (--max-language-mismatch)")
    return sorted(found, key=lambda w: SEVERITY.index(w["kind"]))  # stable: same kind keeps its order


#: Rare labels named in a warning; the rest are counted.
RARE_LISTED = 12
#: Warning kinds, most urgent first (the order of the warnings table).
SEVERITY = (
    "eval_in_train", "unbalanced", "tag_sequence_outside_vocabulary", "language_mismatch",
    "quarantine_rate", "task_under_hours", "rare_label",
)


def compare(new: dict, old: dict) -> dict:
    """What changed from the run ``old`` (the baseline) to ``new``: hours, tag sequences, labels."""

    def changes(a: dict, b: dict, fields: tuple[str, ...]) -> dict:
        rows = {}
        for key in sorted(set(a) | set(b)):
            row = {}
            for f in fields:
                before, after = (b.get(key) or {}).get(f) or 0, (a.get(key) or {}).get(f) or 0
                row[f] = {"before": before, "after": after, "change": round(after - before, 3)}
            rows[key] = row
        return rows

    before_prompts = {r["prompt"]: r["views"] for r in old["tag_sequences"]}
    after_prompts = {r["prompt"]: r["views"] for r in new["tag_sequences"]}
    labels = {}
    for task in sorted(set(new["labels"]) | set(old["labels"])):
        a, b = new["labels"].get(task, {}), old["labels"].get(task, {})
        total_a, total_b = sum(r["views"] for r in a.values()), sum(r["views"] for r in b.values())
        rows = {}
        for label in sorted(set(a) | set(b)):
            after, before = a.get(label, {}).get("views", 0), b.get(label, {}).get("views", 0)
            share_after = after / total_a if total_a else 0.0
            share_before = before / total_b if total_b else 0.0
            if after != before or abs(share_after - share_before) > 1e-9:
                rows[label] = {"before": before, "after": after, "share_before": round(share_before, 4), "share_after": round(share_after, 4)}
        if rows:
            labels[task] = rows
    return {
        "tasks": changes(new["tasks"], old["tasks"], ("seconds", "train_seconds", "views")),
        "corpora": changes(new["corpora"], old["corpora"], ("seconds", "train_seconds", "samples")),
        "tag_sequences": {
            "new": {p: v for p, v in sorted(after_prompts.items()) if p not in before_prompts},
            "vanished": {p: v for p, v in sorted(before_prompts.items()) if p not in after_prompts},
            "changed": {p: {"before": before_prompts[p], "after": v} for p, v in sorted(after_prompts.items()) if p in before_prompts and before_prompts[p] != v},
        },
        "labels": labels,
    }


def build_report(run: Run, limits: Thresholds = Thresholds(), baseline: Run | None = None) -> dict:
    """Every statistic of ``run`` (and, with ``baseline``, what changed since it) as JSON-ready data."""
    summary = run.summary
    report = {
        "run": {
            "input": summary.get("input"),
            "written": summary.get("written"),
            "quarantined": summary.get("quarantined"),
            "excluded": summary.get("excluded", 0),
            "balanced": summary.get("balanced"),
            "shards": len(run.shards),
            "train_shards": sum(1 for s in run.shards if s["group"] == "train"),
            "samples": sum(s["samples"] for s in run.shards),
            "seconds": round(sum(s["seconds"] for s in run.shards), 3),
            "train_seconds": round(sum(s["seconds"] for s in run.shards if s["group"] == "train"), 3),
            "views": sum(run.total.get("views_by_task").values()),
        },
        "not_measured": [f for f in FAMILIES if f not in run.total.data],
        "tasks": _tasks(run),
        "corpora": _corpora(run),
        "splits": _splits(run),
        "audio_languages": _by(run, "samples_by_audio_language", "seconds_by_audio_language"),
        "text_languages": _by(run, "samples_by_text_language", "seconds_by_text_language"),
        "tag_sequences": _tag_sequences(run),
        "labels": _labels(run),
        "duration_buckets": bucket_names(DURATION_EDGES),
        "durations": _histogram(run.total, "samples_by_duration"),
        "target_length_buckets": bucket_names(TARGET_LENGTH_EDGES),
        "target_lengths": _histogram(run.total, "views_by_target_length"),
        "language_check": _language_check(run),
        "flags": _flags(run),
        "quarantine": _quarantine(run),
        "licenses": _licenses(run),
        "thresholds": asdict(limits),
    }
    report["warnings"] = _warnings(run, report, limits)
    if baseline is not None:
        report["compare"] = compare(report, build_report(baseline, limits))
    return report


# --- the same report as titled tables and chart data -----------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    align: str = ""  # one letter per column, "l" or "r"; default: first left, others right

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.columns) - 1)


@dataclass
class Chart:
    """Data for one figure. ``bars``: horizontal bars per category, series stacked (or side by side);
    ``histograms``: one small bar chart per series over the same ordered buckets."""

    title: str
    kind: str  # "bars" or "histograms"
    categories: list[str]
    series: dict[str, list[float]]
    unit: str = ""
    stacked: bool = True


@dataclass
class Section:
    id: str
    title: str
    note: str = ""
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


def hours(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 3600:,.3f}"


def count(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def _share_bars(title: str, rows: dict[str, dict], unit: str = "hours") -> Chart:
    names = sorted(rows, key=lambda k: (-rows[k]["seconds"], k))
    return Chart(title, "bars", names, {
        "train": [_hours(rows[n]["train_seconds"]) for n in names],
        "eval": [_hours(rows[n]["eval_seconds"]) for n in names],
    }, unit)


def _language_section(report: dict, key: str, title: str) -> Section:
    rows = report[key]
    label = (lambda k: "none (no speech)" if k == NO_SPEECH else k) if key == "audio_languages" else str
    table = Table(title, ["language", "samples", "hours", "train h", "eval h"], [
        [label(k), count(r["samples"]), hours(r["seconds"]), hours(r["train_seconds"]), hours(r["eval_seconds"])] for k, r in rows.items()
    ])
    note = "" if rows else "not measured: this run was written before languages were counted"
    if rows and key == "text_languages":
        note = "the language of the targets (slot L of the prompt): a clip with a transcript and a translation counts in both"
    return Section(key, title, note, [table] if rows else [], [_share_bars(f"{title}: hours", rows)] if rows else [])


def sections(report: dict, top: int = 20) -> list[Section]:
    """The report as sections of tables (terminal and HTML) and charts (HTML only), in reading order."""
    run = report["run"]
    result = []
    overview = Table("this run", ["", "value"], [
        ["records in", count(run["input"])], ["samples written", count(run["samples"])],
        ["records quarantined", count(run["quarantined"])], ["records left out by corpus weighting", count(run["excluded"])],
        ["task views", count(run["views"])],
        ["shards (training)", f"{run['shards']:,} ({run['train_shards']:,})"],
        ["hours", hours(run["seconds"])], ["training hours", hours(run["train_seconds"])],
        ["every record accounted for", "yes" if run["balanced"] else "NO"],
    ])
    missing = report["not_measured"]
    result.append(Section("overview", "Overview", f"not measured in this run (written before they were counted): {', '.join(missing)}" if missing else "", [overview]))
    warnings = report["warnings"]
    result.append(Section("warnings", f"Warnings ({len(warnings)})", "" if warnings else "none: every threshold holds", [
        Table("warnings", ["kind", "subject", "what to look at"], [[w["kind"], w["subject"], w["message"]] for w in warnings], "lll")
    ] if warnings else []))
    if "compare" in report:
        result.append(_compare_section(report["compare"]))
    tasks = report["tasks"]
    result.append(Section("tasks", "Tasks", "audio hours count each clip once per task; view hours count it once per view (a clip with five captions is five views)", [
        Table("hours and samples per task", ["task", "samples", "views", "audio h", "view h", "training audio h", "mean target chars"], [
            [t, count(r["samples"]), count(r["views"]), hours(r["seconds"]), hours(r["view_seconds"]), hours(r["train_seconds"]),
             "–" if r["mean_target_chars"] is None else f"{r['mean_target_chars']:.1f}"] for t, r in tasks.items()
        ])
    ], [Chart("audio hours per task", "bars", list(tasks), {
        "train": [_hours(r["train_seconds"] or 0) for r in tasks.values()],
        "eval": [_hours((r["seconds"] or 0) - (r["train_seconds"] or 0)) for r in tasks.values()],
    }, "hours")] if tasks else []))
    result.append(_language_section(report, "audio_languages", "Audio languages"))
    result.append(_language_section(report, "text_languages", "Text languages"))
    corpora = report["corpora"]
    result.append(Section("corpora", "Corpora", "input = written + quarantined + left out by corpus weighting; samples include the repeats weighting makes", [
        Table("records and hours per corpus", ["corpus", "input", "written", "quarantined", "rate", "left out", "samples", "hours", "train h", "eval h"], [
            [n, count(r["input"]), count(r["written"]), count(r["quarantined"]),
             f"{r['quarantined'] / r['input']:.1%}" if r["input"] else "–", count(r["excluded"]), count(r["samples"]),
             hours(r["seconds"]), hours(r["train_seconds"]), hours(r["eval_seconds"])]
            for n, r in corpora.items()
        ])
    ], [_share_bars("hours per corpus", corpora)] if corpora else []))
    result.append(Section("splits", "Splits", "role is what the schema declares; the shard columns say where the samples are", [
        Table("samples per split", ["corpus", "split", "role", "samples", "hours", "in training shards", "in evaluation shards"], [
            [d, s, r["role"] or "–", count(r["samples"]), hours(r["seconds"]), count(r["in_train_shards"]), count(r["in_eval_shards"])]
            for d, splits in report["splits"].items() for s, r in splits.items()
        ], "lllrrrr")
    ]))
    sequences = report["tag_sequences"]
    result.append(Section("tag_sequences", "Tag sequences", f"the {min(top, len(sequences))} most used of {len(sequences)}; each is split into special tokens and checked against the closed vocabulary", [
        Table("top tag sequences", ["tag sequence", "task", "views", "tokens", "vocabulary"], [
            [r["prompt"], ", ".join(r["tasks"]) or "–", count(r["views"]), str(r["tokens"]), "ok" if r["in_vocabulary"] else f"NOT IN VOCABULARY: {r['problem']}"]
            for r in sequences[:top]
        ], "llrrl")
    ]))
    label_tables, label_charts = [], []
    for task, labels in report["labels"].items():
        ordered = sorted(labels, key=lambda k: (-labels[k]["views"], k))
        label_tables.append(Table(f"labels of {task} ({len(labels)})", ["label", "examples", "training", "evaluation", "share"], [
            [k, count(labels[k]["views"]), count(labels[k]["train"]), count(labels[k]["eval"]), f"{labels[k]['views'] / sum(r['views'] for r in labels.values()):.1%}"] for k in ordered
        ]))
        shown = ordered[:40]
        label_charts.append(Chart(f"labels of {task}" + (f" (top 40 of {len(ordered)})" if len(ordered) > 40 else ""), "bars", shown, {
            "train": [labels[k]["train"] for k in shown], "eval": [labels[k]["eval"] for k in shown]}, "examples"))
    result.append(Section("labels", "Labels of classification tasks", "" if report["labels"] else "no classification task in this run", label_tables, label_charts))
    result.append(_histogram_section("durations", "Duration per corpus", report["durations"], report["duration_buckets"], "seconds", "samples per duration"))
    result.append(_histogram_section("target_lengths", "Target length per task", report["target_lengths"], report["target_length_buckets"], "characters", "views per target length"))
    check = report["language_check"]
    if check["measured"]:
        rows = [[d, decl, heard, count(n)] for d, by in check["by_dataset"].items() for decl, found in by.items() for heard, n in sorted(found.items())]
        verdicts = [[d, text, verdict, count(n)] for d, by in check["verdicts"].items() for text, found in by.items() for verdict, n in sorted(found.items())]
        lang = Section("language_check", "Declared vs detected language", f"language identification of the transcripts: {check['mismatched']:,} of {check['checked']:,} checked samples read as another language than their declared text language (confident mismatches are quarantined, so these are short or uncertain)", [
            Table("declared vs detected language", ["corpus", "declared", "detected", "samples"], rows, "lllr"),
            *([Table("verdicts of the language check", ["corpus", "text", "verdict", "samples"], verdicts, "lllr")] if verdicts else []),
        ])
    else:
        lang = Section("language_check", "Declared vs detected language", "not measured: no sample of this run carries a detected language (no language identification ran on it)")
    result.append(lang)
    flagged = [[d, flag, count(n)] for d, flags in report["flags"].items() for flag, n in flags.items()]
    if flagged:
        result.append(Section("flags", "Kept with a flag", "samples written to the shards but worth a look", [Table("flagged samples", ["corpus", "flag", "samples"], flagged, "llr")]))
    quarantine = report["quarantine"]
    stages = sorted({q["stage"] for q in quarantine})
    by_corpus = sorted({q["dataset"] for q in quarantine})
    result.append(Section("quarantine", "Quarantine", f"every refused record is a row of {outputs.QUARANTINE}" if quarantine else "no record was quarantined", [
        Table("quarantined records per corpus, stage and reason", ["corpus", "stage", "reason", "records", "example"], [
            [q["dataset"], q["stage"], q["reason"], count(q["records"]), q["example"]] for q in quarantine], "lllrl")
    ] if quarantine else [], [Chart("quarantined records per corpus and stage", "bars", by_corpus, {
        stage: [sum(q["records"] for q in quarantine if q["dataset"] == c and q["stage"] == stage) for c in by_corpus] for stage in stages
    }, "records")] if quarantine else []))
    licenses = report["licenses"]
    result.append(Section("licenses", "Licences", "", [
        Table("hours per licence", ["licence", "corpora", "samples", "hours", "training h"], [
            [k, ", ".join(r["datasets"]), count(r["samples"]), hours(r["seconds"]), hours(r["train_seconds"])] for k, r in licenses.items()
        ], "llrrr")
    ] if licenses else [], [Chart("hours per licence", "bars", list(licenses), {
        "train": [_hours(r["train_seconds"]) for r in licenses.values()],
        "eval": [_hours(r["seconds"] - r["train_seconds"]) for r in licenses.values()]}, "hours")] if licenses else []))
    return result


def _histogram_section(id_: str, title: str, data: dict, buckets: list[str], unit: str, what: str) -> Section:
    if not data:
        return Section(id_, title, "not measured: this run was written before histograms were counted")
    used = [b for b in buckets if any(b in row for row in data.values())]
    first, last = buckets.index(used[0]), buckets.index(used[-1])
    shown = buckets[first:last + 1]
    table = Table(f"{what} ({unit})", ["", *shown], [[k, *[count(row.get(b, 0)) for b in shown]] for k, row in data.items()])
    chart = Chart(f"{title.lower()} ({unit})", "histograms", shown, {k: [row.get(b, 0) for b in shown] for k, row in data.items()}, what.split()[0])
    return Section(id_, title, f"buckets are [low, high) {unit}", [table], [chart])


def _signed(value: float, fmt) -> str:
    text = fmt(abs(value))
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else "0")


def _compare_section(change: dict) -> Section:
    tables, charts = [], []
    for key, title, fields in (("tasks", "task", ("seconds", "train_seconds", "views")), ("corpora", "corpus", ("seconds", "train_seconds", "samples"))):
        rows = change[key]
        columns = [title]
        for f in fields:
            name = {"seconds": "hours", "train_seconds": "training h"}.get(f, f)
            columns += [f"{name} before", f"{name} after", "change"]
        fmt = {f: (hours if "seconds" in f else count) for f in fields}
        tables.append(Table(f"per {title}: before → after", columns, [
            [k, *[c for f in fields for c in (fmt[f](r[f]["before"]), fmt[f](r[f]["after"]), _signed(r[f]["change"] / 3600 if "seconds" in f else r[f]["change"], (lambda v: f"{v:,.3f}") if "seconds" in f else (lambda v: f"{int(v):,}")))]]
            for k, r in rows.items()
        ]))
        charts.append(Chart(f"hours per {title}: before and after", "bars", list(rows), {
            "before": [_hours(r["seconds"]["before"]) for r in rows.values()],
            "after": [_hours(r["seconds"]["after"]) for r in rows.values()]}, "hours", stacked=False))
    sequences = change["tag_sequences"]
    tables.append(Table("tag sequences that changed", ["tag sequence", "status", "views before", "views after"], [
        *[[p, "new", "0", count(v)] for p, v in sequences["new"].items()],
        *[[p, "vanished", count(v), "0"] for p, v in sequences["vanished"].items()],
        *[[p, "changed", count(v["before"]), count(v["after"])] for p, v in sequences["changed"].items()],
    ], "llrr"))
    tables.append(Table("label shifts", ["task", "label", "before", "after", "share before", "share after"], [
        [task, label, count(r["before"]), count(r["after"]), f"{r['share_before']:.1%}", f"{r['share_after']:.1%}"]
        for task, labels in change["labels"].items() for label, r in labels.items()
    ], "llrrrr"))
    return Section("compare", "Compared with the baseline run", "before = the run given to --compare, after = this run", tables, charts)
