"""The plan: what a run will write, as the workers read it."""
from __future__ import annotations

from dataclasses import dataclass, field

from schemas import loader
from schemas.model import DatasetSchema

from pipelines.core import outputs
from pipelines.core.atomic import read_json
from pipelines.core.config import RunConfig


class PlanError(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    fingerprint: str
    config: dict
    units: list[str]
    inputs: dict[str, int]  # metadata rows seen per dataset
    ingest_drops: dict[str, int]
    excluded: dict[str, int] = field(default_factory=dict)  # left out by weighting, per dataset
    mix: dict = field(default_factory=dict)  # planned hours per dataset and task
    overlaps: dict = field(default_factory=dict)  # "training <- evaluation" corpus pair -> eval_leak records (plan/leaks.py)
    provenance: dict = field(default_factory=dict)  # what made it (pipelines.plan.provenance); {} before it existed
    train_repeats: dict = field(default_factory=dict)  # "a = b" corpus pair -> training records sharing an origin (kept)

    @staticmethod
    def load(out: str) -> "Plan":
        return Plan(**read_json(outputs.plan_path(out)))

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.config)


def load_schemas(config: RunConfig) -> dict[str, DatasetSchema]:
    return {spec.name: loader.load(spec.schema) for spec in config.datasets}


def schema_texts(config: RunConfig) -> dict[str, str]:
    return {spec.name: loader.resolve(spec.schema).read_text(encoding="utf-8") for spec in config.datasets}
