"""Airflow DAG ``audioprep_ingest``: corpora -> verified, published Qwen-Audio shards.

Wiring only: every task is one call into ``pipelines.workflow``; the
data logic lives there and is the same as ``audioprep run``. See docs/dags.md.

  resolve -> corpus[NAME].validate -> corpus[NAME].ingest   (mapped: one instance per corpus)
          -> plan -> unless_dry_run -> shard -> finalize -> verify -> report -> publish
  corpus.* -> corpora_ok   (fails the run, naming the failed corpora, after the others published)
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowFailException

PARAMS = {
    "corpora": Param([], type="array", items={"type": "string"},
                     description="Corpora as NAME=ROOT or NAME:SCHEMA=ROOT (ROOT: the corpus as unpacked). Or give config_file."),
    "config_file": Param(None, type=["null", "string"], description="A run config file (audioprep run CONFIG.yaml) instead of corpora."),
    "only": Param([], type="array", items={"type": "string"}, description="Run only these corpora (names); empty: all."),
    "out": Param(None, type=["null", "string"], description="Output folder or s3://bucket/prefix (overrides the config file's out)."),
    "engine": Param(None, type=["null", "string"], enum=[None, "ray", "beam", "local"],
                    description="beam (Apache Beam), ray (Ray) or local; default: the config file's, else beam (ray with ray_address)."),
    "workers": Param(None, type=["null", "integer"], minimum=1,
                     description="Local Ray CPUs or local Beam workers (threads of the run); default: the CPU count, at most one per pending unit."),
    "beam_runner": Param(None, type=["null", "string"], description="Beam runner, e.g. FlinkRunner, SparkRunner, DataflowRunner."),
    "beam_args": Param([], type="array", items={"type": "string"},
                       description="Further Beam pipeline options, e.g. --flink_master=host:8081."),
    "ray_address": Param(None, type=["null", "string"], description="Ray cluster address, e.g. ray://head:10001: the run uses Ray there (engine unset or ray; default: none, the local machine)."),
    "seed": Param(None, type=["null", "integer"], description="Seed of the deterministic shuffle (default 0)."),
    "work_dir": Param(None, type=["null", "string"], description="With an s3:// out: the local work folder (default: a cache folder)."),
    "shard_max_samples": Param(None, type=["null", "integer"], minimum=1, description="At most this many samples per shard."),
    "shard_max_bytes": Param(None, type=["null", "integer"], minimum=65536, description="Roll over to a new shard before this size."),
    "allow_empty": Param([], type="array", items={"type": "string"},
                         description="Corpora (names) that may yield no record; any other that yields none fails the plan."),
    "publish_to": Param(None, type=["null", "string"], description="Folder to publish index.json, report.json, report.html and complete.json to (default: out)."),
    "dry_run": Param(False, type="boolean", description="Validate, ingest and plan only: no audio is decoded, nothing is sharded."),
}


def step(function, *args):
    """Call a pipeline step; a failure a retry cannot fix fails the task without retrying."""
    from pipelines.workflow import Permanent

    try:
        return function(*args)
    except Permanent as exc:
        raise AirflowFailException(str(exc)) from exc


@task
def resolve(params=None, ti=None) -> list:
    """Pushes the run (XCom key ``run``); returns the corpus names to map over."""
    from pipelines.workflow import resolve_run

    resolved = step(lambda: resolve_run(**{key: params[key] for key in PARAMS if key != "dry_run"}))
    ti.xcom_push(key="run", value=resolved["run"])
    return resolved["corpora"]


@task(map_index_template="{{ corpus_name }}")
def validate(run: dict, name: str) -> str:
    from pipelines.workflow import check_corpus

    get_current_context()["corpus_name"] = name
    step(check_corpus, run, name)
    return name


@task(map_index_template="{{ corpus_name }}")
def ingest(run: dict, name: str) -> dict:
    from pipelines.workflow import ingest_corpus

    get_current_context()["corpus_name"] = name
    return step(ingest_corpus, run, name)


@task_group
def corpus(run: dict, name: str):
    """One corpus: its ingest waits for its own validation only."""
    return ingest(run, validate(run, name))


@task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
def plan(run: dict, ingested: list) -> dict:
    from pipelines.workflow import plan_run

    return step(plan_run, run, list(ingested))


@task.short_circuit(ignore_downstream_trigger_rules=False)
def unless_dry_run(params=None) -> bool:
    return not params["dry_run"]


@task
def shard(run: dict) -> dict:
    from pipelines.workflow import shard_run

    return step(shard_run, run)


@task
def finalize(run: dict) -> dict:
    from pipelines.workflow import finalize_run

    return step(finalize_run, run)


@task
def verify(run: dict) -> dict:
    from pipelines.workflow import verify_run

    return step(verify_run, run)


@task
def report(run: dict, verification: dict) -> dict:
    from pipelines.workflow import report_run

    return step(report_run, run, verification)


@task
def publish(run: dict) -> dict:
    from pipelines.workflow import publish_run

    return step(publish_run, run)


@task(trigger_rule=TriggerRule.ALL_DONE)
def corpora_ok(run: dict, ingested: list) -> dict:
    from pipelines.workflow import corpora_outcome

    return step(corpora_outcome, run, list(ingested))


@dag(
    dag_id="audioprep_ingest",
    schedule=None,
    catchup=False,
    params=PARAMS,
    tags=["audioprep"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    max_active_runs=1,
    doc_md=__doc__,
)
def audioprep_ingest():
    names = resolve()
    run = names["run"]
    ingested = corpus.partial(run=run).expand(name=names)
    planned = plan(run, ingested)
    sharded = shard(run)
    planned >> unless_dry_run() >> sharded
    finalized = finalize(run)
    sharded >> finalized
    verified = verify(run)
    finalized >> verified
    reported = report(run, verified)
    reported >> publish(run)
    corpora_ok(run, ingested)


audioprep_ingest()
