"""A run as a user asks for it -> the ``RunConfig`` and ``EngineOptions`` it runs with.

``audioprep run`` and the DAG's resolve task (``pipelines.workflow.resolve_run``) both describe a
run the same way, a run config file or ``NAME=ROOT`` corpus strings plus overrides, and both call
``resolve`` with it. Values left ``None`` keep the file's, else the defaults of ``RunConfig`` and
``EngineOptions``. Every refusal is a ``RunConfigError`` whose message says what to change.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.core.run_config import RunConfigError, load_run_config


@dataclass(frozen=True)
class RunRequest:
    config_file: str | None = None  # a run config file, or else ...
    corpora: tuple[str, ...] = ()  # ... NAME=ROOT (or NAME:SCHEMA=ROOT) strings, with ``out``
    out: str | None = None
    only: tuple[str, ...] = ()  # keep only these corpora (by name)
    engine: str | None = None
    workers: int | None = None
    ray_address: str | None = None
    beam_runner: str | None = None  # becomes --runner=... unless beam_args name a runner
    beam_args: tuple[str, ...] = ()
    seed: int | None = None
    work_dir: str | None = None
    shard_max_bytes: int | None = None
    shard_max_samples: int | None = None
    min_seconds: float | None = None
    ctc_models: tuple[str, ...] = ()  # LANG=MODEL_FILE, added to the file's
    protected_origins: tuple[str, ...] = ()  # origin lists kept out of training, added to the file's
    allow_empty: tuple[str, ...] = ()  # datasets that may yield no record, added to the file's
    absolute_paths: bool = False  # paths made absolute: orchestrated tasks may start in other folders


def resolve(request: RunRequest) -> tuple[RunConfig, EngineOptions]:
    """The run ``request`` describes; ``RunConfigError`` when it cannot be made as given."""
    config, options = _base(request)
    config = _only(config, request.only)
    try:
        config = replace(config, **_overrides(config, request))
        options = options.overridden(request.engine, request.workers, request.ray_address, _beam_args(request, options))
    except ValueError as exc:  # a shard bound RunConfig refuses, an engine EngineOptions refuses
        raise RunConfigError(str(exc)) from None
    unknown = sorted(set(config.allow_empty) - {spec.name for spec in config.datasets})
    if unknown and set(request.allow_empty) & set(unknown):
        raise RunConfigError(f"--allow-empty {', '.join(unknown)}: not a corpus of this run ({', '.join(s.name for s in config.datasets)})")
    if request.absolute_paths:
        config = _absolute_paths(config)
    return config, options


def parse_corpora(texts: tuple[str, ...] | list[str]) -> tuple[DatasetSpec, ...]:
    """``NAME=ROOT`` strings (``DatasetSpec.parse``) with unique names."""
    try:
        specs = tuple(DatasetSpec.parse(text) for text in texts)
    except ValueError as exc:
        raise RunConfigError(str(exc)) from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise RunConfigError(f"dataset names must be unique: {', '.join(names)}")
    return specs


def _base(request: RunRequest) -> tuple[RunConfig, EngineOptions]:
    """The run config file's run, or the corpus strings' with the defaults."""
    if request.config_file and request.corpora:
        raise RunConfigError("give either a run config file or corpora (--dataset NAME=ROOT), not both")
    if request.config_file:
        try:
            return load_run_config(request.config_file)
        except OSError as exc:
            raise RunConfigError(str(exc)) from None
    if not request.corpora:
        raise RunConfigError("give corpora as NAME=ROOT (or NAME:SCHEMA=ROOT) strings (--dataset), or a run config file")
    if not request.out:
        raise RunConfigError("give the output folder (--out) for corpora given as NAME=ROOT, or a run config file")
    return RunConfig(datasets=parse_corpora(request.corpora), out=request.out), EngineOptions()


def _only(config: RunConfig, only: tuple[str, ...]) -> RunConfig:
    if not only:
        return config
    names = [spec.name for spec in config.datasets]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise RunConfigError(f"corpora {', '.join(unknown)} are not in this run; it has: {', '.join(names)}")
    return replace(config, datasets=tuple(spec for spec in config.datasets if spec.name in only))


def _overrides(config: RunConfig, request: RunRequest) -> dict:
    """The request's values for the fields it gives."""
    given = {
        "out": request.out,
        "seed": request.seed,
        "work_dir": request.work_dir,
        "shard_max_bytes": request.shard_max_bytes,
        "shard_max_samples": request.shard_max_samples,
        "min_seconds": request.min_seconds,
    }
    values = {field: value for field, value in given.items() if value is not None}
    if request.ctc_models:
        values["ctc_models"] = {**config.ctc_models, **_ctc_models(request.ctc_models)}
    if request.protected_origins:
        missing = [p for p in request.protected_origins if not os.path.exists(p)]
        if missing:
            raise RunConfigError(f"--protect-origins {missing[0]}: no such file or folder (a file of origins, or another run's output)")
        values["protected_origins"] = (*config.protected_origins, *request.protected_origins)
    if request.allow_empty:
        values["allow_empty"] = tuple(sorted({*config.allow_empty, *request.allow_empty}))
    return values


def _ctc_models(items: tuple[str, ...]) -> dict[str, str]:
    models = {}
    for item in items:
        language, sep, path = item.partition("=")
        if not sep or not language or not os.path.isfile(path):
            raise RunConfigError(f"--ctc-model {item!r}: expected LANG=MODEL_FILE with an existing file, e.g. zh=/models/mms-zh.pt")
        models[language] = path
    return models


def _beam_args(request: RunRequest, options: EngineOptions) -> tuple[str, ...]:
    """The request's Beam pipeline options (else the file's), led by ``--runner=`` when a runner is named."""
    args = tuple(request.beam_args) or options.beam_args
    if request.beam_runner and not any(arg.startswith("--runner") for arg in args):
        args = (f"--runner={request.beam_runner}", *args)
    return args


def absolute_location(location: str) -> str:
    """A path made absolute; a URI (s3://...) as it is."""
    return location if "://" in location else os.path.abspath(location)


def _absolute_paths(config: RunConfig) -> RunConfig:
    """Output, work folder, corpus roots and schema files as absolute paths; URIs and schema names stay."""

    def schema(location: str) -> str:
        return os.path.abspath(location) if location.endswith((".yaml", ".yml")) else location

    datasets = tuple(
        replace(spec, root=absolute_location(spec.root), roots={k: absolute_location(v) for k, v in spec.roots.items()},
                schema=schema(spec.schema))
        for spec in config.datasets
    )
    work_dir = absolute_location(config.work_dir) if config.work_dir else None
    protected = tuple(absolute_location(p) for p in config.protected_origins)
    return replace(config, out=absolute_location(config.out), work_dir=work_dir, datasets=datasets, protected_origins=protected)
