"""Quality filters: the run config's rules (``filters:``, docs/quality.md) applied to each sample's
measured quality (``quality.measure``, taken by the audio stage).

Rules are resolved per sample, later ones replacing earlier ones metric by metric: the run's rules,
the run's rules for the transcript's language, the corpus's rules, the corpus's rules for the
language. A rule applies to evaluation sets only when it says ``evaluation: true`` (so scores stay
comparable with published ones), and never to a metric not measured on the clip (SNR of music). A
sample that fails is quarantined with reason ``quality_<metric>``, the measured value and the rule
in the detail, and its seconds in the row (``QualityDrop``), so reports show hours before and after.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipelines.core.record import Drop
from pipelines.prepare.quality import FILTER_METRICS

STAGE = "quality"
REASON_PREFIX = "quality_"


@dataclass(frozen=True)
class QualityDrop(Drop):
    """A sample refused by a quality rule; ``seconds``: its audio, counted in the hours filtered out."""

    seconds: float = 0.0

    def to_row(self) -> dict:
        return {**super().to_row(), "seconds": self.seconds}


@dataclass(frozen=True)
class Rule:
    metric: str
    min: float | None
    max: float | None
    evaluation: bool
    scope: str  # where the rule was written, e.g. "filters", "datasets.librispeech.filters.languages.zh"

    def failure(self, value: float) -> str | None:
        """Why ``value`` fails this rule, or None when it passes."""
        if self.min is not None and value < self.min:
            return f"{value:g} is below the minimum {self.min:g}"
        if self.max is not None and value > self.max:
            return f"{value:g} is above the maximum {self.max:g}"
        return None

    def describe(self) -> str:
        bounds = [f"{name} {bound:g}" for name, bound in (("min", self.min), ("max", self.max)) if bound is not None]
        return f"{self.metric} {', '.join(bounds)}{'' if self.evaluation else ' (training data only)'} [{self.scope}]"


def _layer(rules: dict, scope: str) -> dict[str, Rule]:
    return {
        metric: Rule(metric, rule.get("min"), rule.get("max"), bool(rule.get("evaluation")), scope)
        for metric, rule in rules.items()
    }


def rules_for(filters: dict, dataset: str, language: str | None) -> dict[str, Rule]:
    """The rules of a sample of ``dataset`` whose transcript is in ``language``, by metric."""
    corpus = filters.get("datasets", {}).get(dataset, {})
    layers = (
        (filters.get("rules", {}), "filters"),
        (filters.get("languages", {}).get(language, {}), f"filters.languages.{language}"),
        (corpus.get("rules", {}), f"datasets.{dataset}.filters"),
        (corpus.get("languages", {}).get(language, {}), f"datasets.{dataset}.filters.languages.{language}"),
    )
    resolved: dict[str, Rule] = {}
    for rules, scope in layers:
        resolved.update(_layer(rules, scope))
    return {metric: resolved[metric] for metric in FILTER_METRICS if metric in resolved}


def describe(filters: dict) -> list[str]:
    """Every rule of a run, one line each, in the order they are resolved (what ``--plan`` prints)."""
    lines = [rule.describe() for rule in _layer(filters.get("rules", {}), "filters").values()]
    for language, rules in sorted(filters.get("languages", {}).items()):
        lines += [rule.describe() for rule in _layer(rules, f"filters.languages.{language}").values()]
    for dataset, corpus in sorted(filters.get("datasets", {}).items()):
        lines += [rule.describe() for rule in _layer(corpus.get("rules", {}), f"datasets.{dataset}.filters").values()]
        for language, rules in sorted(corpus.get("languages", {}).items()):
            scope = f"datasets.{dataset}.filters.languages.{language}"
            lines += [rule.describe() for rule in _layer(rules, scope).values()]
    return lines


def make_quality_filter(filters: dict) -> Callable:
    """The quality stage: the first failed rule (in metric order) quarantines the sample."""
    cache: dict[tuple[str, str | None, str], tuple[Rule, ...]] = {}

    def check(sample):
        record = sample.record
        key = (record.dataset, record.text_language, record.role)
        if key not in cache:
            cache[key] = tuple(
                rule for rule in rules_for(filters, record.dataset, record.text_language).values()
                if rule.evaluation or record.role != "eval"
            )
        for rule in cache[key]:
            value = sample.quality.get(rule.metric)
            why = None if value is None else rule.failure(value)
            if why is not None:
                detail = f"{record.source}: {rule.metric} {why} (rule {rule.describe()})"
                return QualityDrop(
                    STAGE, REASON_PREFIX + rule.metric, detail, dataset=record.dataset, key=record.key,
                    source=record.source, seconds=round(sample.seconds, 3),
                )
        return sample

    return check

