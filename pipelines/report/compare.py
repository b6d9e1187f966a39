"""What changed from a baseline run to this one: hours and counts per task and corpus, tag sequences
that appeared, vanished or changed, and labels whose count or share moved.

Works on two results of ``build_report`` (plain data), never on the runs' files.
"""
from __future__ import annotations

TASK_FIELDS = ("seconds", "train_seconds", "views")
CORPUS_FIELDS = ("seconds", "train_seconds", "samples")


def compare(new: dict, old: dict) -> dict:
    """What changed from the run ``old`` (the baseline) to ``new``: hours, tag sequences, labels."""
    return {
        "tasks": _changes(new["tasks"], old["tasks"], TASK_FIELDS),
        "corpora": _changes(new["corpora"], old["corpora"], CORPUS_FIELDS),
        "tag_sequences": _tag_sequences(new["tag_sequences"], old["tag_sequences"]),
        "labels": _label_shifts(new["labels"], old["labels"]),
    }


def _changes(after_rows: dict, before_rows: dict, fields: tuple[str, ...]) -> dict:
    """Per key of either run and per field: the value before, after, and the change (0 where absent)."""
    rows = {}
    for key in sorted(set(after_rows) | set(before_rows)):
        row = {}
        for f in fields:
            before = (before_rows.get(key) or {}).get(f) or 0
            after = (after_rows.get(key) or {}).get(f) or 0
            row[f] = {"before": before, "after": after, "change": round(after - before, 3)}
        rows[key] = row
    return rows


def _tag_sequences(after_rows: list[dict], before_rows: list[dict]) -> dict:
    before = {r["prompt"]: r["views"] for r in before_rows}
    after = {r["prompt"]: r["views"] for r in after_rows}
    return {
        "new": {p: v for p, v in sorted(after.items()) if p not in before},
        "vanished": {p: v for p, v in sorted(before.items()) if p not in after},
        "changed": {
            p: {"before": before[p], "after": v} for p, v in sorted(after.items()) if p in before and before[p] != v
        },
    }


def _label_shifts(after_labels: dict, before_labels: dict) -> dict:
    """Per task, the labels whose views or share of the task's views differ; tasks without one are left out."""
    labels = {}
    for task in sorted(set(after_labels) | set(before_labels)):
        a, b = after_labels.get(task, {}), before_labels.get(task, {})
        total_a, total_b = sum(r["views"] for r in a.values()), sum(r["views"] for r in b.values())
        rows = {}
        for label in sorted(set(a) | set(b)):
            after, before = a.get(label, {}).get("views", 0), b.get(label, {}).get("views", 0)
            share_after = after / total_a if total_a else 0.0
            share_before = before / total_b if total_b else 0.0
            if after != before or abs(share_after - share_before) > 1e-9:
                rows[label] = {
                    "before": before, "after": after,
                    "share_before": round(share_before, 4), "share_after": round(share_after, 4),
                }
        if rows:
            labels[task] = rows
    return labels
