"""Run config files: ``audioprep run CONFIG.yaml``.

```yaml
out: out/                      # a folder or s3://bucket/prefix/
seed: 0
temperature: null              # e.g. 2.0: temperature sampling over corpus hours (training only)
shards: {max_bytes: 1000000000, max_samples: 2000, multiple_of: 8}
engine: {name: beam, workers: 2, ray_address: null, beam_args: []}
                               # default name: beam (ray with ray_address); workers: the CPU count, at most one per unit
tasks:                         # optional per-task weights over every corpus feeding the task
  scene: {repeat: 2}
  asr: {cap_hours: 1000}
datasets:
  - name: librispeech          # schema defaults to the name
    root: /data/LibriSpeech
    splits: [train-clean-100, dev-clean]   # default: every split
    cap_hours: 100             # at most 100 h of training data from this corpus
  - {name: clotho, root: /data/clotho, repeat: 3}   # upsample a small corpus
  - name: covost2              # a schema that declares extra roots gets them here
    root: /data/covost2
    roots: {common_voice: /data/cv-corpus-4}
    filters: {snr_db: {min: 10}}   # quality rules of this corpus, over the run's own
allow_empty: [clotho]          # datasets that may yield no record (any other that does fails the run)
filters:                       # quality rules (docs/quality.md); evaluation sets only with evaluation: true
  snr_db: {min: 5}
  clipping: {max: 0.01}
  chars_per_second: {min: 2, max: 25}
  languages:
    zh: {chars_per_second: {min: 1, max: 10}}
dnsmos: false                  # true: DNSMOS scores of speech clips too (the dnsmos extra)
```
Unknown keys are errors naming the line, like dataset schemas; a value ``RunConfig`` refuses (a
shard bound) is an error naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from tag_builder.tasks import REGISTRY

from pipelines.core.config import (
    MIN_SECONDS,
    DEFAULT_SHARD_MAX_BYTES,
    DEFAULT_SHARD_MAX_SAMPLES,
    DNSMOS_METRICS,
    QUALITY_METRICS,
    DatasetSpec,
    EngineOptions,
    RunConfig,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterRule(_Strict):
    min: float | None = Field(None, description="a sample measuring less is quarantined (quality_<metric>)")
    max: float | None = Field(None, description="a sample measuring more is quarantined (quality_<metric>)")
    evaluation: bool = Field(False, description="apply the rule to evaluation sets too (default: training data only)")

    @model_validator(mode="after")
    def _bounds(self) -> "FilterRule":
        if self.min is None and self.max is None:
            raise ValueError("a filter rule needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"a filter rule's min ({self.min}) is above its max ({self.max})")
        return self


#: one optional rule per quality metric (a misspelled metric is an error naming the line)
MetricRules = create_model(
    "MetricRules", __base__=_Strict, **{name: (FilterRule | None, None) for name in QUALITY_METRICS + DNSMOS_METRICS}
)


class FilterSet(MetricRules):  # type: ignore[misc, valid-type]
    languages: dict[str, MetricRules] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="rules for samples whose transcript is in this language (over these)"
    )

    def to_config(self) -> dict:
        """The ``RunConfig.filters`` shape of these rules: {"rules": ..., "languages": ...}, unset ones left out."""
        def rules(model) -> dict:
            return {name: getattr(model, name).model_dump() for name in QUALITY_METRICS + DNSMOS_METRICS if getattr(model, name)}

        languages = {lang: rules(model) for lang, model in sorted(self.languages.items()) if rules(model)}
        return {k: v for k, v in (("rules", rules(self)), ("languages", languages)) if v}


class DatasetEntry(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    schema_: str | None = Field(None, alias="schema", description="schema name or file; default: the name")
    root: str
    splits: list[str] | None = None
    cap_hours: float | None = Field(None, gt=0)
    repeat: float = Field(1.0, gt=0)
    roots: dict[str, str] = Field(
        default_factory=dict, description="extra roots the schema declares, e.g. {common_voice: /data/cv-corpus-4}"
    )
    srwt: bool = Field(False, description="add an SRWT view (word timestamps) to each ASR window (docs/long-form.md)")
    filters: FilterSet | None = Field(None, description="quality rules of this corpus, over the run's (docs/quality.md)")


class ShardOptions(_Strict):
    max_bytes: int = DEFAULT_SHARD_MAX_BYTES  # bounds checked by RunConfig
    max_samples: int = DEFAULT_SHARD_MAX_SAMPLES
    multiple_of: int | None = Field(None, ge=1, description="training shards come in a multiple of this")


class EngineEntry(_Strict):
    name: Literal["beam", "ray", "local"] | None = Field(None, description="default: beam, or ray when ray_address is given")
    workers: int | None = Field(None, ge=1, description="default: the machine's CPU count, at most one per pending unit")
    ray_address: str | None = None
    beam_args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ray_address_is_for_ray(self) -> "EngineEntry":
        if self.ray_address and self.name not in (None, "ray"):
            raise ValueError(f"ray_address ({self.ray_address}) is a Ray cluster, but the engine named is {self.name}: name ray, or leave the address out")
        return self


TaskName = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]


class TaskWeight(_Strict):
    cap_hours: float | None = Field(None, gt=0, description="at most this many hours of training audio feed the task")
    repeat: float = Field(1.0, gt=0, description="up- (>1) or downsample (<1) every corpus feeding the task")


class RunConfigFile(_Strict):
    out: str
    seed: int = 0
    temperature: float | None = Field(None, gt=0)
    probe_durations: bool = True
    min_seconds: float = Field(MIN_SECONDS, ge=0, description="clips shorter than this are quarantined (too_short)")
    shards: ShardOptions = Field(default_factory=ShardOptions)
    engine: EngineEntry = Field(default_factory=EngineEntry)
    datasets: list[DatasetEntry] = Field(min_length=1)
    tasks: dict[TaskName, TaskWeight] = Field(default_factory=dict, description="per-task weights (training data)")
    sil_threshold: float = Field(0.3, gt=0, description="SRWT: a pause longer than this (seconds) is a <|sil|> unit")
    ctc_models: dict[str, str] = Field(default_factory=dict, description="SRWT: language -> TorchScript CTC model file (ctc extra)")
    protect_origins: list[str] = Field(
        default_factory=list,
        description="evaluation sets outside the run kept out of training: files of origins (one a line) or other runs' output folders",
    )
    allow_empty: list[str] = Field(default_factory=list, description="datasets that may yield no record (any other that does fails the run)")
    filters: FilterSet = Field(default_factory=FilterSet, description="quality rules (docs/quality.md); default: none")
    dnsmos: bool = Field(False, description="DNSMOS scores of speech clips in their quality (the dnsmos extra)")

    @model_validator(mode="after")
    def _dnsmos_rules_need_dnsmos(self) -> "RunConfigFile":
        sets = [self.filters, *[d.filters for d in self.datasets if d.filters]]
        named = {m for f in sets for rules in (f, *f.languages.values()) for m in DNSMOS_METRICS if getattr(rules, m)}
        if named and not self.dnsmos:
            raise ValueError(f"filters on {', '.join(sorted(named))} need dnsmos: true (DNSMOS is measured only when asked for)")
        return self


class RunConfigError(ValueError):
    """A run that cannot be made as given; the message says what to change."""


def load_run_config(path: str | Path) -> tuple[RunConfig, EngineOptions]:
    from schemas.loader import format_validation_error

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RunConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        model = RunConfigFile.model_validate(data)
    except ValidationError as exc:
        raise RunConfigError(format_validation_error(path, text, exc)) from None
    names = [d.name for d in model.datasets]
    if len(set(names)) != len(names):
        raise RunConfigError(f"{path}: dataset names must be unique: {', '.join(names)}")
    if set(model.allow_empty) - set(names):
        unknown = ", ".join(sorted(set(model.allow_empty) - set(names)))
        raise RunConfigError(f"{path}: allow_empty names {unknown}, not a dataset of the file ({', '.join(names)})")
    base = path.parent
    specs = tuple(
        DatasetSpec(
            name=d.name,
            schema=_relative(base, d.schema_) if d.schema_ and d.schema_.endswith((".yaml", ".yml")) else (d.schema_ or d.name),
            root=_relative(base, d.root),
            splits=tuple(d.splits) if d.splits else None,
            cap_hours=d.cap_hours,
            repeat=d.repeat,
            roots={name: _relative(base, extra) for name, extra in d.roots.items()},
            srwt=d.srwt,
        )
        for d in model.datasets
    )
    try:
        config = RunConfig(
            datasets=specs,
            out=_relative(base, model.out),
            seed=model.seed,
            shard_max_bytes=model.shards.max_bytes,
            shard_max_samples=model.shards.max_samples,
            shards_multiple_of=model.shards.multiple_of,
            temperature=model.temperature,
            task_weights={task: weight.model_dump() for task, weight in sorted(model.tasks.items())},
            probe_durations=model.probe_durations,
            sil_threshold=model.sil_threshold,
            ctc_models={language: _relative(base, path) for language, path in model.ctc_models.items()},
            allow_empty=tuple(model.allow_empty),
            min_seconds=model.min_seconds,
            protected_origins=tuple(_relative(base, p) for p in model.protect_origins),
            filters=_filters(model),
            dnsmos=model.dnsmos,
        )
    except ValueError as exc:
        raise RunConfigError(f"{path}: {exc}") from None
    engine = EngineOptions(model.engine.name, model.engine.workers, model.engine.ray_address, tuple(model.engine.beam_args))
    return config, engine


def _filters(model: RunConfigFile) -> dict:
    """The run's quality rules as ``RunConfig.filters``: its own, and each corpus's that has some."""
    datasets = {d.name: d.filters.to_config() for d in model.datasets if d.filters and d.filters.to_config()}
    return {**model.filters.to_config(), **({"datasets": dict(sorted(datasets.items()))} if datasets else {})}


def _relative(base: Path, location: str) -> str:
    """Paths in a config file are relative to the file; URIs are kept as they are."""
    if "://" in location or Path(location).is_absolute():
        return location
    return str(base / location)
