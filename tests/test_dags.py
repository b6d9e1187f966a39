"""The Airflow DAGs in dags/, run by Airflow itself (its CLI, in subprocesses, on SQLite).

Each test gets its own AIRFLOW_HOME with a migrated SQLite database; nothing is mocked.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.demo import write_demo

from conftest import PROJECT, audioprep

pytest.importorskip("airflow", reason="Airflow is an extra: pip install -c constraints.txt -e '.[airflow]'")

DAGS = PROJECT / "dags"
DAG_ID = "audioprep_ingest"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

DAGBAG_SCRIPT = r"""
import json, sys, time
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag
start = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
seconds = time.monotonic() - start
dags = {}
for dag_id, dag in bag.dags.items():
    dag.check_cycle()
    dags[dag_id] = {
        "fileloc": dag.fileloc,
        "params": sorted(dag.params),
        "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "trigger_rule": getattr(t.trigger_rule, "value", t.trigger_rule)} for t in dag.tasks},
    }
timeout = conf.getfloat("core", "dagbag_import_timeout")
print(json.dumps({"import_errors": bag.import_errors, "dags": dags, "seconds": seconds, "timeout": timeout}))
"""


def airflow_env(home: Path, extra: dict | None = None) -> dict:
    return {
        **os.environ,
        **(extra or {}),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AUDIOPREP_PROGRESS": "0",
    }


def airflow(home: Path, *args: str, check: bool = True, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=airflow_env(home, env), timeout=timeout, cwd=home)
    if check and result.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-8000:]}\n{result.stderr[-8000:]}")
    return result


def cli_json(result: subprocess.CompletedProcess):
    """The JSON of an `airflow ... -o json` listing (Airflow prints warnings to stdout before it)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def airflow_home(tmp_path) -> Path:
    home = tmp_path / "airflow"
    home.mkdir()
    airflow(home, "db", "migrate")
    return home


def dags_test(home: Path, conf: dict, env: dict | None = None) -> tuple[subprocess.CompletedProcess, str, dict]:
    """`airflow dags test` one run; returns the process, its run's state and task states by task id[name]."""
    listed = airflow(home, "dags", "list-runs", DAG_ID, "-o", "json", check=False)  # fails before the first run
    before = {r["run_id"] for r in cli_json(listed)} if listed.returncode == 0 else set()
    result = airflow(home, "dags", "test", DAG_ID, "-c", json.dumps(conf), check=False, env=env)
    runs = [r for r in cli_json(airflow(home, "dags", "list-runs", DAG_ID, "-o", "json")) if r["run_id"] not in before]
    assert len(runs) == 1, f"expected one new dag run, found {runs}\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    run = runs[0]
    states = cli_json(airflow(home, "tasks", "states-for-dag-run", DAG_ID, run["run_id"], "-o", "json"))
    by_task = {}
    for row in states:
        key = row["task_id"] if row["map_index"] in ("", "-1", None) else f"{row['task_id']}[{row['map_index']}]"
        by_task[key] = row["state"]
    return result, run["state"], by_task


def tree_state(out: Path) -> dict[str, tuple[int, int]]:
    """Every file under OUT with its inode and modification time (what a rewrite changes)."""
    return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.rglob("*")) if p.is_file()}


# -- fast: the DAG files parse, and wire only -------------------------------------------------------


def test_dagbag_imports_every_dag_without_errors_or_cycles(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", DAGBAG_SCRIPT, str(DAGS)], capture_output=True, text=True, timeout=120,
        env=airflow_env(tmp_path), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    bag = json.loads(result.stdout.strip().splitlines()[-1])
    assert bag["import_errors"] == {}
    files = sorted(p.name for p in DAGS.glob("*.py"))
    assert sorted({Path(d["fileloc"]).name for d in bag["dags"].values()}) == files
    # Airflow gives up on a file after dagbag_import_timeout (30 s); stay far below it even on a busy machine
    assert bag["seconds"] < bag["timeout"] / 3, f"parsing dags/ took {bag['seconds']:.1f} s: keep heavy imports inside the tasks"
    dag = bag["dags"][DAG_ID]
    assert {"corpora", "config_file", "only", "out", "engine", "workers", "beam_runner", "beam_args", "ray_address", "dry_run", "publish_to"} <= set(dag["params"])
    tasks = dag["tasks"]
    upstream = {task: info["upstream"] for task, info in tasks.items()}
    assert upstream["corpus.validate"] == ["resolve"]
    assert upstream["corpus.ingest"] == ["corpus.validate", "resolve"]
    assert upstream["plan"] == ["corpus.ingest", "resolve"]
    assert upstream["shard"] == ["resolve", "unless_dry_run"]
    assert upstream["finalize"] == ["resolve", "shard"]
    assert upstream["verify"] == ["finalize", "resolve"]
    assert upstream["report"] == ["resolve", "verify"]
    assert upstream["publish"] == ["report", "resolve"]
    assert upstream["corpora_ok"] == ["corpus.ingest", "resolve"]
    # the plan goes ahead with the corpora that succeeded; corpora_ok reports those that did not
    assert tasks["plan"]["trigger_rule"] == "all_done_min_one_success"
    assert tasks["corpora_ok"]["trigger_rule"] == "all_done"


def test_dag_files_only_wire_pipeline_steps():
    """No data logic in dags/: they import Airflow and the orchestration steps of pipelines, nothing else."""
    allowed = {"__future__", "datetime", "airflow.sdk", "airflow.sdk.exceptions", "pipelines.workflow"}
    for path in DAGS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module in allowed, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
                assert set(names) <= allowed, f"{path.name} imports {names}"
            elif isinstance(node, (ast.For, ast.While, ast.With)):
                raise AssertionError(f"{path.name}:{node.lineno}: loops and file handling belong in pipelines/")


# -- slow: real runs of the DAG --------------------------------------------------------------------


@pytest.mark.slow
def test_dag_runs_demo_corpora_end_to_end_and_a_rerun_rewrites_nothing(airflow_home, tmp_path):
    roots = write_demo(str(tmp_path / "demo"))
    out, published = tmp_path / "out", tmp_path / "published"
    conf = {
        "corpora": [f"{name}={root}" for name, root in roots.items()],
        "out": str(out),
        "engine": "ray",
        "workers": 2,
        "shard_max_samples": 10,
        "publish_to": str(published),
    }

    # dry run: validate, ingest and plan; nothing sharded, and the run is a success
    _, state, tasks = dags_test(airflow_home, {**conf, "dry_run": True})
    assert state == "success", tasks
    assert tasks["plan"] == "success"
    assert {tasks[t] for t in ("shard", "finalize", "verify", "report", "publish")} == {"skipped"}
    assert (out / "_work" / "plan.json").exists()
    assert not list(out.rglob("*.tar")) and not (out / "index.json").exists()

    result, state, tasks = dags_test(airflow_home, conf)
    assert state == "success", f"{tasks}\n{result.stdout[-8000:]}"
    assert set(tasks.values()) == {"success"}, tasks
    assert sum(1 for t in tasks if t.startswith("corpus.ingest[")) == 3
    index = json.loads((out / "index.json").read_text())
    assert index["shards"] and all((out / s["path"]).is_file() for s in index["shards"])
    report = json.loads((out / "report.json").read_text())
    assert report["corpora"] == {"requested": list(roots), "included": list(roots), "failed": {}}
    assert report["verification"]["ok"] is True
    assert report["verification"]["samples"] == sum(s["samples"] for s in index["shards"])
    assert report["summary"]["balanced"] is True
    assert set(report["statistics"]["corpora"]) == set(roots)  # the statistics of `audioprep stats`
    page = (out / "report.html").read_text()
    assert "Corpora of this run" in page and "<img" in page
    assert (published / "report.html").read_text() == page
    assert {name: d["written"] for name, d in report["summary"]["datasets"].items()} == {"clotho": 6, "cochlscene": 24, "librispeech": 12}
    published_index = json.loads((published / "index.json").read_text())
    assert published_index["root"] == str(out) and published_index["shards"] == index["shards"]
    assert json.loads((published / "report.json").read_text()) == report
    complete = json.loads((out / "complete.json").read_text())
    assert complete == json.loads((published / "complete.json").read_text())
    assert complete["datasets"] == list(roots) and complete["failed"] == [] and complete["shards"] == len(index["shards"])
    audioprep("verify", str(out))

    # the same run again: every step finds its work done; not one file is rewritten
    before = tree_state(out), tree_state(published)
    time.sleep(0.05)
    result, state, tasks = dags_test(airflow_home, conf)
    assert state == "success", f"{tasks}\n{result.stdout[-8000:]}"
    after = tree_state(out), tree_state(published)
    rewritten = [path for old, new in zip(before, after) for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)]
    assert rewritten == []
    audioprep("verify", str(out))


@pytest.mark.slow
def test_a_corpus_with_a_broken_schema_fails_alone_and_the_others_are_published(airflow_home, tmp_path):
    roots = write_demo(str(tmp_path / "demo"))
    broken = tmp_path / "clotho-broken.yaml"
    text = (PROJECT / "schemas" / "clotho.yaml").read_text()
    broken.write_text(text.replace("\nlicense:", "\nlicence:", 1))  # a typo: an unknown key
    assert broken.read_text() != text
    out = tmp_path / "out"
    conf = {
        "corpora": [f"librispeech={roots['librispeech']}", f"clotho:{broken}={roots['clotho']}", f"cochlscene={roots['cochlscene']}"],
        "out": str(out),
        "engine": "beam",
        "workers": 2,
        "shard_max_samples": 10,
    }
    result, state, tasks = dags_test(airflow_home, conf)
    log = result.stdout + result.stderr
    assert state == "failed"  # the run shows the failure ...
    assert tasks["corpus.validate[1]"] == "failed" and tasks["corpus.ingest[1]"] == "upstream_failed"
    for other in (0, 2):  # ... of clotho's mapped task only
        assert tasks[f"corpus.validate[{other}]"] == tasks[f"corpus.ingest[{other}]"] == "success"
    assert {tasks[t] for t in ("plan", "shard", "finalize", "verify", "report", "publish")} == {"success"}, tasks
    assert tasks["corpora_ok"] == "failed"
    assert "licence" in log and "clotho-broken.yaml" in log

    report = json.loads((out / "report.json").read_text())
    assert report["corpora"]["included"] == ["librispeech", "cochlscene"]
    failure = report["corpora"]["failed"]["clotho"]
    assert failure["step"] == "validate"
    assert "clotho-broken.yaml" in failure["error"] and "licence" in failure["error"]
    page = (out / "report.html").read_text()
    assert "failed" in page and "licence" in page
    assert sorted(report["summary"]["datasets"]) == ["cochlscene", "librispeech"]
    index = json.loads((out / "index.json").read_text())
    assert index["shards"] and not any("clotho" in s["path"] for s in index["shards"])
    complete = json.loads((out / "complete.json").read_text())
    assert complete["datasets"] == ["librispeech", "cochlscene"] and complete["failed"] == ["clotho"]
    assert not (out / "manifests" / "clotho.parquet").exists()
    audioprep("verify", str(out))


@pytest.mark.slow
def test_dag_with_an_s3_output_resumes_from_the_bucket_alone(airflow_home, tmp_path):
    """Tasks hand over through the bucket: a second run with an empty work folder (another worker)
    finds everything there, and neither uploads nor changes a single object."""
    from s3_server import MotoServer, s3_env
    from s3_server import client as s3_client

    roots = write_demo(str(tmp_path / "demo"))
    server = MotoServer()
    try:
        env = s3_env(server.url)
        client = s3_client(server.url)
        client.create_bucket(Bucket="runs")

        def objects() -> dict[str, tuple[str, object]]:
            listed = client.list_objects_v2(Bucket="runs", Prefix="dag/").get("Contents", [])
            return {item["Key"][len("dag/"):]: (item["ETag"], item["LastModified"]) for item in listed}

        conf = {
            "corpora": [f"{name}={root}" for name, root in roots.items()],
            "out": "s3://runs/dag/",
            "engine": "local",
            "shard_max_samples": 10,
        }
        result, state, tasks = dags_test(airflow_home, {**conf, "work_dir": str(tmp_path / "worker-a")}, env)
        assert state == "success", f"{tasks}\n{result.stdout[-8000:]}"
        first = objects()
        for name in ("index.json", "summary.json", "report.json", "report.html", "complete.json", "_work/plan.json"):
            assert name in first, sorted(first)
        index = json.loads(client.get_object(Bucket="runs", Key="dag/index.json")["Body"].read())
        assert index["shards"] and all(s["path"] in first for s in index["shards"])
        complete = json.loads(client.get_object(Bucket="runs", Key="dag/complete.json")["Body"].read())
        assert complete["run"] == "s3://runs/dag/" and complete["datasets"] == list(roots)

        time.sleep(1.1)  # LastModified has a resolution of one second
        result, state, tasks = dags_test(airflow_home, {**conf, "work_dir": str(tmp_path / "worker-b")}, env)
        assert state == "success", f"{tasks}\n{result.stdout[-8000:]}"
        assert objects() == first
        assert not list((tmp_path / "worker-b").rglob("*.tar"))  # no unit was run again
        audioprep("verify", "s3://runs/dag/", env=env)
    finally:
        server.stop()


@pytest.mark.slow
def test_the_dag_s_ingest_runs_on_ray_workers_and_writes_the_manifests_of_an_ingest_here(airflow_home, tmp_path):
    """With engine ray each corpus's ingest tasks run on Ray, as `audioprep run`'s do: a dry run starts
    one Ray instance per corpus (Ray's session folders under RAY_TMPDIR; before, the DAG's ingest
    started none), the first ingest task's process is killed as it finishes (a failpoint firing once,
    in the process that reaches it) and the run still succeeds, and the manifests and drops are the
    bytes of an ingest in this process."""
    import shutil
    import tempfile

    from pipelines.core import outputs
    from pipelines.core.config import DatasetSpec
    from pipelines.ingest.manifest import ingest_dataset

    roots = write_demo(str(tmp_path / "demo"))
    out, fired = tmp_path / "out", tmp_path / "fired"
    ray_tmpdir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths live under it
    try:
        env = {"AUDIOPREP_FAILPOINT": "ingest_task_done:1:process", "AUDIOPREP_FAILPOINT_ONCE": str(fired),
               "RAY_TMPDIR": str(ray_tmpdir)}
        conf = {"corpora": [f"{name}={root}" for name, root in roots.items()], "out": str(out), "engine": "ray",
                "workers": 2, "dry_run": True}
        result, state, tasks = dags_test(airflow_home, conf, env)
        assert state == "success", f"{tasks}\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
        assert fired.exists(), "no ingest task finished in a process of the run"
        sessions = [p for p in (ray_tmpdir / "ray").glob("session_*") if p.name != "session_latest" and p.is_dir()]
        assert len(sessions) == len(roots), sessions
    finally:
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
    here = tmp_path / "here"
    for name, root in roots.items():
        ingest_dataset(DatasetSpec(name, name, root), str(here))
        for path in (outputs.manifest_path, outputs.ingest_drops_path):
            assert Path(path(str(out), name)).read_bytes() == Path(path(str(here), name)).read_bytes(), (name, path)
