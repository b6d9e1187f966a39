"""Weighting: how many copies of each training record enter the mix."""
from __future__ import annotations

import math

from pipelines.core.config import RunConfig
from pipelines.core.keys import unit_fraction


def mix_factors(
    config: RunConfig, train_seconds: dict[str, float], dataset_tasks: dict[str, set[str]] | None = None
) -> dict[str, float]:
    """Expected copies per training record of each dataset: temperature x repeat, then capped, then
    the task weights (``task_weights``): a task's repeat and cap apply to every corpus feeding it, and
    a corpus feeding several weighted tasks takes the smallest of their factors, so no cap is passed."""
    total = sum(train_seconds.values())
    factors = {}
    if config.temperature and total > 0:
        shares = {name: seconds / total for name, seconds in train_seconds.items() if seconds > 0}
        tempered = {name: share ** (1.0 / config.temperature) for name, share in shares.items()}
        norm = sum(tempered.values())
        factors = {name: tempered[name] / norm / shares[name] for name in shares}
    result = {}
    for spec in config.datasets:
        factor = factors.get(spec.name, 1.0) * spec.repeat
        seconds = train_seconds.get(spec.name, 0.0)
        if spec.cap_hours is not None and seconds > 0:
            factor = min(factor, spec.cap_hours * 3600 / seconds)
        result[spec.name] = factor
    if config.task_weights and dataset_tasks:
        task_factor = {}
        for task, weight in config.task_weights.items():
            feeding = [name for name, tasks in dataset_tasks.items() if task in tasks]
            hours = sum(train_seconds.get(name, 0.0) * result[name] for name in feeding) / 3600
            factor = weight.get("repeat", 1.0)
            if weight.get("cap_hours") is not None and hours * factor > weight["cap_hours"]:
                factor = weight["cap_hours"] / hours
            task_factor[task] = factor
        for name, tasks in dataset_tasks.items():
            weighted = [task_factor[t] for t in tasks if t in task_factor]
            if weighted:
                result[name] *= min(weighted)
    return result


def copies_of(factor: float, seed: int, key: str) -> int:
    """How many times a training record enters the mix: floor(factor), plus one with the remainder's chance."""
    whole = math.floor(factor)
    return whole + (1 if unit_fraction(seed, key, "mix") < factor - whole else 0)
