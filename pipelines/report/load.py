"""A finished run, read back: its index, stats, summary and quarantine (never a shard).

The per-shard counters of ``stats.json`` (see ``accounting.count_sample``) are merged by the group of
their shard in ``index.json``, which tells training from evaluation data.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from pipelines.core import outputs
from pipelines.core.atomic import read_json, read_jsonl
from pipelines.prepare.accounting import Counters


class StatsError(ValueError):
    """A run's files cannot be read; the message names the file and the reason."""


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
        folder = os.path.dirname(path) or "."
        raise StatsError(f"{path}: missing; is {folder} the output folder of a finished `audioprep run`?")
    try:
        return reader(path)
    except (OSError, ValueError) as exc:
        raise StatsError(f"{path}: cannot be read: {exc}") from None


def load_run(out: str) -> Run:
    """The run in the output folder ``out``; ``StatsError`` names a file that is missing or broken."""
    index = _read(os.path.join(out, outputs.INDEX), read_json)
    stats = _read(os.path.join(out, outputs.STATS), read_json)
    summary = _read(os.path.join(out, outputs.SUMMARY), read_json)
    quarantine = _read(os.path.join(out, outputs.QUARANTINE), lambda p: list(read_jsonl(p)))
    per_shard = stats.get("shards", {}) if isinstance(stats, dict) else {}
    shards, roles = [], {"train": Counters(), "eval": Counters()}
    for row in index.get("shards", []):
        if row["path"] not in per_shard:
            raise StatsError(
                f"{os.path.join(out, outputs.STATS)}: no statistics for shard {row['path']} listed in {outputs.INDEX}"
            )
        counters = Counters(per_shard[row["path"]])
        shards.append({**row, "stats": counters})
        roles["train" if row["group"] == "train" else "eval"] += counters
    total = Counters.merge(roles.values())
    return Run(out, summary, quarantine, shards, total, roles)
