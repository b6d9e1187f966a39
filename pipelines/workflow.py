"""The steps of an orchestrated run, one function per task, each safe to retry.

An orchestrator (Airflow: ``dags/audioprep_ingest.py``) calls them in this order:

  resolve_run      DAG params or a run config file -> the run, as JSON passed between tasks
  check_corpus     one corpus: schema valid, its worked examples hold, its root exists   (mapped)
  ingest_corpus    one corpus: its manifest, skipped when already complete               (mapped)
  plan_run         the corpora that were ingested -> work units (reused when the same)
  shard_run        the pending units on Beam, Ray or locally (finished units are skipped)
  finalize_run     index, summary, quarantine, stats (skipped when no unit changed)
  verify_run       re-read every shard; fails on any problem
  report_run       report.json and report.html: every corpus's outcome, counts, verification, statistics
  publish_run      the index and report where the run says, then the completion marker
  corpora_outcome  fails, naming them, when corpora failed (after the others were published)

A failure that a retry cannot fix (an invalid schema, a missing corpus, a plan that does not match
the output folder, shards that do not verify) raises ``Permanent``, so an orchestrator can fail
the task at once instead of retrying it. Each corpus's outcome is recorded under OUT/_work/corpora,
and every file here is written only when its content changes, so repeating a finished run rewrites
nothing. With an ``s3://`` output every step works in the run's local folder (``RunConfig.local_out``)
and pushes what the next task needs to the bucket, so tasks may run on different workers.
"""
from __future__ import annotations

import hashlib
import itertools
import os
from contextlib import contextmanager
from dataclasses import replace

from schemas import loader
from schemas.loader import SchemaError

from pipelines.core import outputs
from pipelines.core.atomic import read_json, write_json_if_changed
from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.core.remote import Mirror, RemoteError
from pipelines.core.run_config import RunConfigError
from pipelines.core.run_request import RunRequest, absolute_location, resolve


CORPUS_STEPS = ("validate", "ingest")  # per corpus, in order; outcomes in OUT/_work/corpora/NAME.json


class Permanent(RuntimeError):
    """A failure that retrying the same task cannot fix; the message says what to change."""


# -- the run, as JSON between tasks ---------------------------------------------------------------


def run_config(run: dict) -> RunConfig:
    return RunConfig.from_dict(run["config"])


def engine_options(run: dict) -> EngineOptions:
    return EngineOptions.from_dict(run["engine"])


def local_out(run: dict) -> str:
    """The folder the steps work in: the output, or the local mirror of an s3:// output."""
    return run_config(run).local_out


def _mirror(run: dict) -> Mirror:
    config = run_config(run)
    return Mirror(config.local_out, config.remote)


def _spec(run: dict, name: str) -> DatasetSpec:
    for spec in run_config(run).datasets:
        if spec.name == name:
            return spec
    raise Permanent(f"corpus {name!r} is not part of this run")


def resolve_run(
    *,
    out: str | None = None,
    corpora: list[str] | None = None,
    config_file: str | None = None,
    only: list[str] | None = None,
    engine: str | None = None,
    workers: int | None = None,
    beam_runner: str | None = None,
    beam_args: list[str] | None = None,
    ray_address: str | None = None,
    seed: int | None = None,
    work_dir: str | None = None,
    shard_max_samples: int | None = None,
    shard_max_bytes: int | None = None,
    publish_to: str | None = None,
    allow_empty: list[str] | None = None,
) -> dict:
    """The run described by a run config file or by ``NAME=ROOT`` corpus strings, with overrides
    (``pipelines.core.run_request.resolve``, as for ``audioprep run``), its paths made absolute.

    ``only`` keeps a subset of the corpora (by name). Returns ``{"run": ..., "corpora": [names]}``.
    """
    request = RunRequest(
        config_file=config_file, corpora=tuple(corpora or ()), out=out, only=tuple(only or ()), engine=engine,
        workers=workers, ray_address=ray_address, beam_runner=beam_runner, beam_args=tuple(beam_args or ()),
        seed=seed, work_dir=work_dir, shard_max_bytes=shard_max_bytes, shard_max_samples=shard_max_samples,
        allow_empty=tuple(allow_empty or ()), absolute_paths=True,
    )
    try:
        config, options = resolve(request)
    except RunConfigError as exc:
        raise Permanent(str(exc)) from None
    run = {
        "config": config.to_dict(),
        "engine": options.to_dict(),
        "publish_to": absolute_location(publish_to) if publish_to else None,
    }
    return {"run": run, "corpora": [spec.name for spec in config.datasets]}


# -- one corpus --------------------------------------------------------------------------------


@contextmanager
def _corpus_step(run: dict, name: str, step: str):
    """Record the corpus's outcome of ``step``: the error when it raises, else that it passed."""
    mirror = _mirror(run)
    path = outputs.corpus_status_path(mirror.local, name)

    def record(outcome: dict) -> None:
        steps = read_json(path) if mirror.fetch(path) else {}
        write_json_if_changed(path, {**steps, step: outcome})
        mirror.push(path)

    try:
        yield
    except BaseException as exc:
        record({"state": "failed", "error": f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"})
        raise
    record({"state": "ok", "error": None})


def check_corpus(run: dict, name: str) -> dict:
    """Validate the corpus's schema, run the worked examples written in it, check its root."""
    from pipelines.ingest.examples import run_example
    from pipelines.ingest.rootcheck import check_root
    from pipelines.prepare.timestamps import check_aligners

    spec = _spec(run, name)
    with _corpus_step(run, name, "validate"):
        try:
            schema = loader.load(spec.schema)
        except SchemaError as exc:
            raise Permanent(f"schema of corpus {name!r}: {exc}") from None
        problems = list(itertools.chain.from_iterable(run_example(schema, e) for e in schema.examples))
        if problems:
            listed = "; ".join(problems)
            raise Permanent(f"schema of corpus {name!r} ({spec.schema}): {len(problems)} worked example(s) do not hold: {listed}")
        try:
            spec.check_roots()
            check_root(schema, spec)
            check_aligners(replace(run_config(run), datasets=(spec,)), {name: schema})
        except ValueError as exc:  # RootError and AlignError too
            raise Permanent(str(exc)) from None
    return {"dataset": name, "schema": spec.schema, "examples": len(schema.examples)}


def ingest_corpus(run: dict, name: str) -> dict:
    """The corpus's manifest (``manifests/NAME.parquet``); skipped when already complete.

    Its ingest tasks run on the run's engine when ``audioprep run`` would run them there
    (``runners.engine_runs_ingest``: Ray, a Beam runner named in ``beam_args``), through the same
    executor (``runners.ingest_executor``), else in this process."""
    from pipelines.ingest.manifest import ingest_dataset
    from pipelines.runners import engine_runs_ingest, engine_session, ingest_executor

    config, options, mirror = run_config(run), engine_options(run), _mirror(run)
    with _corpus_step(run, name, "ingest"):
        _check_plan_code(mirror)
        for path in (outputs.ingest_done_path, outputs.manifest_path, outputs.ingest_drops_path):
            mirror.fetch(path(mirror.local, name))  # finished by an earlier attempt on another worker
        if engine_runs_ingest(options):
            with engine_session(config, options):  # one start, also for tasks run again by the merge
                counts = ingest_dataset(_spec(run, name), mirror.local, config.probe_durations,
                                        run_tasks=ingest_executor(config, options), remote=config.remote)
        else:
            counts = ingest_dataset(_spec(run, name), mirror.local, config.probe_durations)
        for path in (outputs.ingest_drops_path, outputs.manifest_path, outputs.ingest_done_path):
            mirror.push(path(mirror.local, name))  # for the plan task, wherever it runs
    return {"dataset": name, "records": counts["records"], "drops": counts["drops"]}


def _check_plan_code(mirror: Mirror) -> None:
    """Permanent when the output holds a plan made by other code: its manifests are not replaced."""
    from pipelines.plan.model import Plan, PlanError
    from pipelines.plan.provenance import check_worker

    if mirror.fetch(outputs.plan_path(mirror.local)):
        try:
            check_worker(Plan.load(mirror.local), mirror.uri or mirror.local)
        except PlanError as exc:
            raise Permanent(str(exc)) from None


def _corpus_outcomes(run: dict, ingested: list[dict]) -> dict:
    requested = [spec["name"] for spec in run["config"]["datasets"]]
    done = {row["dataset"] for row in ingested if row}
    mirror = _mirror(run)
    failed = {}
    for name in requested:
        if name in done:
            continue
        path = outputs.corpus_status_path(mirror.local, name)
        steps = read_json(path) if mirror.fetch(path) else {}
        step = next((s for s in CORPUS_STEPS if steps.get(s, {}).get("state") == "failed"), None)
        failed[name] = {
            "step": step or "validate",
            "error": steps[step]["error"] if step else "did not run (see its task in the orchestrator)",
        }
    return {"requested": requested, "included": [n for n in requested if n in done], "failed": failed}


def corpora_outcome(run: dict, ingested: list[dict]) -> dict:
    """Fails, naming each failed corpus with its step and error, when any corpus did not ingest."""
    outcome = _corpus_outcomes(run, ingested)
    if outcome["failed"]:
        listed = "; ".join(f"{n} ({f['step']}): {f['error']}" for n, f in outcome["failed"].items())
        raise Permanent(f"{len(outcome['failed'])} corpus(es) failed and were left out of this run: {listed}")
    return outcome


# -- the run -----------------------------------------------------------------------------------


def plan_run(run: dict, ingested: list[dict]) -> dict:
    """Plan with the corpora that were ingested; records which were left out, and why."""
    from pipelines.plan.model import PlanError
    from pipelines.plan.planner import make_plan

    config, mirror = run_config(run), _mirror(run)
    outcome = _corpus_outcomes(run, ingested)
    write_json_if_changed(outputs.corpora_path(mirror.local), outcome)
    mirror.push(outputs.corpora_path(mirror.local))
    if not outcome["included"]:
        raise Permanent(f"no corpus was ingested; failed: {', '.join(outcome['failed'])}")
    config = replace(config, datasets=tuple(s for s in config.datasets if s.name in outcome["included"]))
    try:
        plan = make_plan(config)
    except (PlanError, SchemaError, RemoteError) as exc:
        raise Permanent(str(exc)) from None
    return {
        "units": len(plan.units),
        "inputs": plan.inputs,
        "included": outcome["included"],
        "failed": sorted(outcome["failed"]),
        "mix": getattr(plan, "mix", {}),
    }


def shard_run(run: dict) -> dict:
    """Prepare and shard the plan's pending units on the run's engine; finished units are skipped."""
    from pipelines.plan.model import Plan
    from pipelines.runners import run_units

    config, options, mirror = run_config(run), engine_options(run), _mirror(run)
    out = config.local_out
    mirror.fetch(outputs.plan_path(out))
    plan = Plan.load(out)
    pending = [u for u in plan.units if not mirror.fetch(outputs.unit_done_path(out, u))]
    run_units(config, options, pending)
    return {"engine": options.engine, "units": len(plan.units), "ran": len(pending), "skipped": len(plan.units) - len(pending)}


def _units_digest(out: str) -> str:
    from pipelines.plan.model import Plan

    digest = hashlib.sha256()
    with open(outputs.plan_path(out), "rb") as handle:
        digest.update(handle.read())
    for unit in Plan.load(out).units:
        path = outputs.unit_done_path(out, unit)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                digest.update(unit.encode() + b"\0" + hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def finalize_run(run: dict) -> dict:
    """Index, summary, quarantine and stats, rebuilt only when the plan or a unit record changed."""
    from pipelines.finalize.collect import IncompleteRun, finalize
    from pipelines.plan.model import Plan

    config, mirror = run_config(run), _mirror(run)
    out = config.local_out
    mirror.fetch(outputs.plan_path(out))
    for unit in Plan.load(out).units:  # written by workers elsewhere
        mirror.fetch(outputs.unit_done_path(out, unit))
    for name in (outputs.INDEX, outputs.SUMMARY, outputs.STATS, outputs.QUARANTINE):
        mirror.fetch(os.path.join(out, name))
    mirror.fetch(outputs.finalized_path(out))
    record = {"units": _units_digest(out)}
    summary_path = os.path.join(out, outputs.SUMMARY)
    finished = all(os.path.exists(os.path.join(out, name)) for name in (outputs.INDEX, outputs.SUMMARY, outputs.STATS))
    if finished and os.path.exists(outputs.finalized_path(out)) and read_json(outputs.finalized_path(out)) == record:
        summary = read_json(summary_path)
    else:
        try:
            summary = finalize(out, config.remote)
        except IncompleteRun as exc:
            raise Permanent(str(exc)) from None
        write_json_if_changed(outputs.finalized_path(out), record)
        mirror.push(outputs.finalized_path(out))
    if not summary["balanced"]:
        raise Permanent(f"the counts in {summary_path} do not balance: input != written + quarantined + excluded")
    return summary


def verify_run(run: dict, shown: int = 20) -> dict:
    """Re-read every shard against the index; fails listing the first problems."""
    from pipelines.finalize.verify import verify

    config = run_config(run)
    out = config.remote or config.local_out  # in a bucket, shards are fetched one at a time
    report = verify(out)
    if not report.ok:
        listed = "\n  ".join(report.problems[:shown])
        more = f"\n  ... and {len(report.problems) - shown} more" if len(report.problems) > shown else ""
        raise Permanent(f"{out}: {len(report.problems)} problem(s) found re-reading the shards:\n  {listed}{more}")
    return {"ok": True, "shards": report.shards, "samples": report.samples, "seconds": round(report.seconds, 3)}


def report_run(run: dict, verification: dict) -> dict:
    """The run's report: ``report.json`` and the page ``report.html``.

    Holds what became of every corpus (which were left out, at which step, with which error), the
    counts, the verification, and every statistic of ``audioprep stats`` (``pipelines.report``).
    """
    from pipelines.report.html import render
    from pipelines.report.build import build_report
    from pipelines.report.load import StatsError, load_run
    from pipelines.report.sections import sections
    from pipelines.report.tables import Section, Table

    out, mirror = local_out(run), _mirror(run)
    for name in (outputs.SUMMARY, outputs.STATS, outputs.INDEX, outputs.QUARANTINE):
        mirror.fetch(os.path.join(out, name))
    mirror.fetch(outputs.corpora_path(out))
    corpora_file = outputs.corpora_path(out)
    corpora = read_json(corpora_file) if os.path.exists(corpora_file) else {}
    try:
        statistics = build_report(load_run(out))
    except StatsError as exc:
        raise Permanent(str(exc)) from None
    report = {
        "corpora": corpora,
        "summary": read_json(os.path.join(out, outputs.SUMMARY)),
        "verification": verification,
        "statistics": statistics,
    }
    rows = [[name, "included", "", ""] for name in corpora.get("included", [])]
    rows += [[name, "failed", f["step"], f["error"]] for name, f in corpora.get("failed", {}).items()]
    overview = Section(
        "corpora", "Corpora of this run",
        note=f"verification: {verification['shards']} shards, {verification['samples']} samples re-read, no problem",
        tables=[Table("what became of each corpus", ["corpus", "outcome", "failed at", "error"], rows, "llll")],
    )
    page = render([overview, *sections(statistics)], "audioprep run report", run_config(run).out)
    write_json_if_changed(os.path.join(out, outputs.REPORT), report)
    _write_text_if_changed(os.path.join(out, outputs.REPORT_HTML), page)
    for name in (outputs.REPORT, outputs.REPORT_HTML):
        mirror.push(os.path.join(out, name))
    return {
        "report": os.path.join(out, outputs.REPORT),
        "failed": sorted(corpora.get("failed", {})),
        "warnings": [w["message"] for w in statistics["warnings"]],
    }


def _write_text_if_changed(path: str, text: str) -> None:
    from pipelines.core.atomic import write_bytes

    data = text.encode("utf-8")
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            if handle.read() == data:
                return
    write_bytes(path, data)


def publish_run(run: dict) -> dict:
    """``pipelines.finalize.publish.publish`` for this run: index and report to ``publish_to``, then complete.json."""
    from pipelines.finalize.publish import PublishError, publish

    config = run_config(run)
    try:
        return publish(config.local_out, run["publish_to"], config.remote)
    except PublishError as exc:
        raise Permanent(str(exc)) from None
