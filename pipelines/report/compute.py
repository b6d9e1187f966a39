"""A run's statistics as JSON-ready data: hours, samples and views per task, corpus, language, split,
tag sequence, label, licence and histogram bucket, with the language check, flags and quarantine.

Counter names join their parts with ``accounting.SEP`` ("clotho/evaluation"); ``split_key`` takes
them apart.
"""
from __future__ import annotations

from collections import defaultdict

from tag_builder.vocabulary import UnknownTokenError, split_tokens

from pipelines.prepare.accounting import (
    DURATION_EDGES, SEP, TARGET_LENGTH_EDGES, Counters, bucket_names, interval_names,
)
from pipelines.prepare.filters import REASON_PREFIX
from pipelines.prepare.quality import HISTOGRAM_EDGES
from pipelines.report.load import Run

# Families written by ``count_sample``; a run made before one existed reports it as not measured.
FAMILIES = (
    "samples_by_task", "audio_seconds_by_task", "samples_by_audio_language", "samples_by_text_language",
    "seconds_by_split", "samples_by_role", "samples_by_license", "views_by_label", "samples_by_duration",
    "views_by_target_length", "views_by_task_prompt", "samples_by_quality",
)


def split_key(name: str, parts: int) -> list[str]:
    """The ``parts`` parts of a counter name; the last keeps any further separator."""
    return name.split(SEP, parts - 1)


def in_hours(seconds: float) -> float:
    return seconds / 3600


def statistics(run: Run) -> dict:
    """Every statistic of ``run``, keyed by what it is about (the warnings are added by ``build``)."""
    return {
        "run": _run_totals(run),
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
        "quality_buckets": {metric: interval_names(edges) for metric, edges in HISTOGRAM_EDGES.items()},
        "quality": _quality(run),
        "quality_filters": _quality_filters(run),
        "quarantine": _quarantine(run),
        "licenses": _licenses(run),
        "overlaps": _overlaps(run),
    }


def _overlaps(run: Run) -> dict:
    """The same source in several places, from summary.json: training records kept out as evaluation
    clips (by origin) and training copies of one origin, per pair of corpora; audio written twice
    (bit-identical PCM) per pair of sets, with examples. ``None`` for what a run did not measure."""
    summary = run.summary
    return {
        "eval_leaks": summary.get("eval_leaks"),
        "train_repeats": summary.get("train_repeats"),
        "duplicate_audio": summary.get("duplicate_audio"),
    }


def _run_totals(run: Run) -> dict:
    summary = run.summary
    return {
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
    }


def _by(run: Run, samples: str, seconds: str) -> dict[str, dict]:
    """Samples and seconds per key of two families, overall and in training / evaluation shards."""
    count_, total = run.total.get(samples), run.total.get(seconds)
    train, evaluation = run.roles["train"].get(seconds), run.roles["eval"].get(seconds)
    return {
        key: {
            "samples": count_.get(key, 0),
            "seconds": total.get(key, 0),
            "train_seconds": train.get(key, 0),
            "eval_seconds": evaluation.get(key, 0),
        }
        for key in sorted(set(count_) | set(total))
    }


def _tasks(run: Run) -> dict[str, dict]:
    total, train = run.total, run.roles["train"]
    has_audio_seconds = "audio_seconds_by_task" in total.data
    tasks = {}
    for task in sorted(set(total.get("views_by_task")) | set(total.get("samples_by_task"))):
        views = total.get("views_by_task").get(task, 0)
        chars = total.get("target_chars_by_task").get(task)
        tasks[task] = {
            "samples": total.get("samples_by_task").get(task),
            "views": views,
            "seconds": total.get("audio_seconds_by_task").get(task),
            "view_seconds": total.get("seconds_by_task").get(task, 0),
            "train_seconds": train.get("audio_seconds_by_task").get(task, 0) if has_audio_seconds else None,
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
        role, dataset_split = split_key(name, 2)
        roles[dataset_split] = role
    splits: dict[str, dict[str, dict]] = defaultdict(dict)
    seconds = run.total.get("seconds_by_split")
    train, evaluation = run.roles["train"].get("samples_by_split"), run.roles["eval"].get("samples_by_split")
    for name, samples in sorted(run.total.get("samples_by_split").items()):
        dataset, split = split_key(name, 2)
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
        task, prompt = split_key(name, 2)
        tasks[prompt].append(task)
    rows = []
    for prompt, views in run.total.get("views_by_prompt").items():
        try:
            tokens, problem = split_tokens(prompt), None
        except UnknownTokenError as exc:
            tokens, problem = [], str(exc)
        rows.append({
            "prompt": prompt, "tasks": sorted(tasks[prompt]), "views": views, "tokens": len(tokens),
            "in_vocabulary": problem is None, "problem": problem,
        })
    rows.sort(key=lambda r: (-r["views"], r["prompt"]))
    return rows


def _labels(run: Run) -> dict[str, dict[str, dict]]:
    labels: dict[str, dict[str, dict]] = defaultdict(dict)
    train, evaluation = run.roles["train"].get("views_by_label"), run.roles["eval"].get("views_by_label")
    for name, count in sorted(run.total.get("views_by_label").items()):
        task, label = split_key(name, 2)
        labels[task][label] = {"views": count, "train": train.get(name, 0), "eval": evaluation.get(name, 0)}
    return dict(labels)


def _histogram(counters: Counters, family: str) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for name, count in counters.get(family).items():
        key, bucket = split_key(name, 2)
        result[key][bucket] = count
    return dict(result)


def _language_check(run: Run) -> dict:
    checks = run.total.get("samples_by_language_check")
    rows: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, count in checks.items():
        dataset, declared, detected = split_key(name, 3)
        rows[dataset][declared][detected] = count
    checked = sum(checks.values())
    mismatched = sum(count for name, count in checks.items() if split_key(name, 3)[1] != split_key(name, 3)[2])
    verdicts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, count in run.total.get("samples_by_language_verdict").items():
        dataset, text, verdict = split_key(name, 3)
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
        dataset, flag = split_key(name, 2)
        flags[dataset][flag] = count
    return dict(flags)


def _quality(run: Run) -> dict[str, dict[str, dict[str, int]]]:
    """Samples per bucket of each quality metric, per corpus (metrics not measured are not counted)."""
    result: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, count in sorted(run.total.get("samples_by_quality").items()):
        dataset, metric, bucket = split_key(name, 3)
        result[dataset][metric][bucket] = count
    return {dataset: dict(metrics) for dataset, metrics in result.items()}


def _quality_filters(run: Run) -> dict[str, dict]:
    """Per corpus with samples refused by a quality rule: hours before and after the filters, and why."""
    result: dict[str, dict] = {}
    for row in run.quarantine:
        if not row.get("reason", "").startswith(REASON_PREFIX):
            continue
        dataset = row.get("dataset", "")
        entry = result.setdefault(dataset, {"filtered_samples": 0, "filtered_seconds": 0.0, "by_reason": {}})
        entry["filtered_samples"] += 1
        entry["filtered_seconds"] += row.get("seconds", 0.0)
        entry["by_reason"][row["reason"]] = entry["by_reason"].get(row["reason"], 0) + 1
    seconds = run.total.get("seconds_by_dataset")
    for dataset, entry in result.items():
        entry["filtered_seconds"] = round(entry["filtered_seconds"], 3)
        entry["seconds_after"] = round(seconds.get(dataset, 0), 3)
        entry["seconds_before"] = round(entry["seconds_after"] + entry["filtered_seconds"], 3)
        entry["by_reason"] = dict(sorted(entry["by_reason"].items()))
    return dict(sorted(result.items()))


def _quarantine(run: Run) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for row in run.quarantine:
        key = (row.get("dataset", ""), row.get("stage", ""), row.get("reason", ""))
        entry = groups.setdefault(key, {
            "dataset": key[0], "stage": key[1], "reason": key[2], "records": 0, "example": row.get("detail", ""),
        })
        entry["records"] += 1
    return sorted(groups.values(), key=lambda r: (r["dataset"], r["stage"], -r["records"], r["reason"]))


def _licenses(run: Run) -> dict[str, dict]:
    licenses: dict[str, dict] = {}
    train = run.roles["train"].get("seconds_by_license")
    seconds = run.total.get("seconds_by_license")
    for name, samples in sorted(run.total.get("samples_by_license").items()):
        dataset, license_ = split_key(name, 2)
        entry = licenses.setdefault(license_, {"datasets": [], "samples": 0, "seconds": 0.0, "train_seconds": 0.0})
        entry["datasets"].append(dataset)
        entry["samples"] += samples
        entry["seconds"] = round(entry["seconds"] + seconds.get(name, 0), 3)
        entry["train_seconds"] = round(entry["train_seconds"] + train.get(name, 0), 3)
    return licenses
