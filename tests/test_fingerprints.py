"""A resume never mixes code versions: every completion record carries the fingerprint of what shaped
it, a rerun made by other code, configuration or schemas is refused saying what changed, a worker of
another version refuses the plan, and ``audioprep verify`` reports an output of mixed fingerprints."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, audioprep, published, run_pipeline
from pipelines import workflow
from pipelines.core import fingerprint, outputs
from pipelines.core.config import DatasetSpec, RunConfig
from pipelines.demo import write_clotho, write_cochlscene
from pipelines.finalize.verify import verify
from pipelines.plan.model import Plan, PlanError
from pipelines.plan.planner import make_plan
from pipelines.prepare.units import UnitProcessor


@pytest.fixture(scope="module")
def clotho(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("fp") / "clotho"
    write_clotho(str(root), too_long=False)
    return str(root)


@pytest.fixture(scope="module")
def cochlscene(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("fp") / "CochlScene"
    write_cochlscene(str(root), {"Train": 1, "Test": 1}, corrupt=False)
    return str(root)


def _copy_project(to: Path) -> Path:
    for folder in ("pipelines", "schemas", "tag_builder"):
        shutil.copytree(PROJECT / folder, to / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return to


def _run_copy(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`audioprep` as the copy of the project at ``project`` runs it."""
    env = {**os.environ, "PYTHONPATH": str(project), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, env=env,
                          cwd=project, timeout=600)


def _views(out: Path) -> list[dict]:
    import tarfile

    views = []
    for path in sorted(out.rglob("*.tar")):
        with tarfile.open(path) as tar:
            views += [v for m in tar if m.name.endswith(".json") for v in json.loads(tar.extractfile(m).read())["tasks"]]
    return views


def test_a_rerun_by_code_with_another_tag_is_refused_and_nothing_is_mixed(clotho, tmp_path):
    project = _copy_project(tmp_path / "project")
    out = tmp_path / "out"
    first = _run_copy(project, "run", "--dataset", f"clotho={clotho}", "--out", str(out), "--engine", "local")
    assert first.returncode == 0, first.stderr[-2000:]
    before = published(out)
    tasks = project / "tag_builder" / "tasks.py"
    text = tasks.read_text()
    assert 'instructions=("<|caption_clotho|>",)' in text
    tasks.write_text(text.replace('instructions=("<|caption_clotho|>",)', 'instructions=("<|caption_audiocaps|>",)', 1))
    again = _run_copy(project, "run", "--dataset", f"clotho={clotho}", "--out", str(out), "--engine", "local")
    assert again.returncode != 0
    message = " ".join(again.stderr.split())
    assert "the code that shapes output changed" in message and "--overwrite" in message and "new output" in message, message
    assert published(out) == before  # nothing rewritten, nothing added
    fresh = tmp_path / "fresh"  # the change is real: the new code writes other views
    changed = _run_copy(project, "run", "--dataset", f"clotho={clotho}", "--out", str(fresh), "--engine", "local")
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert any("<|caption_audiocaps|>" in v["prompt"] for v in _views(fresh))
    assert not any("<|caption_audiocaps|>" in v["prompt"] for v in _views(out))


def _code_moved_to(monkeypatch, copy: Path) -> None:
    """The fingerprint reads the sources of ``copy`` from now on (as another installed version would)."""
    monkeypatch.setattr(fingerprint, "TOP", str(copy))
    fingerprint.code_digest.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_digests():
    fingerprint.code_digest.cache_clear()
    yield
    fingerprint.code_digest.cache_clear()


def test_a_worker_running_other_code_refuses_the_plan_naming_both(clotho, tmp_path, monkeypatch):
    config = RunConfig(datasets=(DatasetSpec("clotho", "clotho", clotho),), out=str(tmp_path / "out"))
    plan = make_plan(config)
    made = plan.provenance["code"]
    copy = _copy_project(tmp_path / "project")
    windows = copy / "pipelines" / "ingest" / "windows.py"
    windows.write_text(windows.read_text() + "\n# a later version\n")
    _code_moved_to(monkeypatch, copy)
    with pytest.raises(PlanError) as refused:
        UnitProcessor(config.out)
    assert made[:12] in str(refused.value) and fingerprint.code_digest(fingerprint.OUTPUT_SOURCES)[:12] in str(refused.value)
    assert "same audioprep" in str(refused.value)
    assert not (tmp_path / "out" / "train").exists()  # no unit ran
    manifest = Path(outputs.manifest_path(config.out, "clotho")).read_bytes()
    run = workflow.resolve_run(corpora=[f"clotho={clotho}"], out=config.out)["run"]
    with pytest.raises(workflow.Permanent, match="same audioprep"):  # the DAG's ingest task refuses too
        workflow.ingest_corpus(run, "clotho")
    assert Path(outputs.manifest_path(config.out, "clotho")).read_bytes() == manifest


def test_a_value_map_change_is_refused_naming_the_schema(cochlscene, tmp_path):
    schema = tmp_path / "cochlscene.yaml"
    schema.write_text((PROJECT / "schemas" / "cochlscene.yaml").read_text())
    out = tmp_path / "out"
    run_pipeline({f"cochlscene:{schema}": cochlscene}, out)
    schema.write_text(schema.read_text().replace("Bus: bus", "Bus: city bus"))
    with pytest.raises(PlanError) as refused:
        run_pipeline({f"cochlscene:{schema}": cochlscene}, out)
    assert "the schema of cochlscene changed" in str(refused.value)
    assert "code that shapes output" not in str(refused.value) and "configuration" not in str(refused.value)


def test_a_configuration_change_is_refused_naming_the_fields(clotho, tmp_path):
    out = tmp_path / "out"
    run_pipeline({"clotho": clotho}, out)
    with pytest.raises(PlanError) as refused:
        run_pipeline({"clotho": clotho}, out, seed=7, shard_max_samples=3)
    assert "the configuration changed (seed, shard_max_samples)" in str(refused.value)


def test_an_output_from_before_fingerprints_is_refused(clotho, tmp_path):
    out = tmp_path / "out"
    run_pipeline({"clotho": clotho}, out)
    plan = json.loads(Path(outputs.plan_path(str(out))).read_text())
    del plan["provenance"]  # as plans were: a hash of the config and the schemas' texts only
    plan["fingerprint"] = hashlib.sha256(json.dumps([plan["config"], (PROJECT / "schemas" / "clotho.yaml").read_text()]).encode()).hexdigest()
    Path(outputs.plan_path(str(out))).write_text(json.dumps(plan))
    with pytest.raises(PlanError, match="before this version of audioprep"):
        run_pipeline({"clotho": clotho}, out)


def test_every_completion_record_carries_its_fingerprint_and_verify_finds_mixed_ones(clotho, tmp_path):
    out = tmp_path / "out"
    run_pipeline({"clotho": clotho}, out)
    plan = Plan.load(str(out))
    assert plan.provenance["schemas"].keys() == {"clotho"} and plan.provenance["version"]
    ingest = json.loads(Path(outputs.ingest_done_path(str(out), "clotho")).read_text())
    assert plan.provenance["manifests"] == {"clotho": ingest["fingerprint"]}
    done = [Path(outputs.unit_done_path(str(out), u)) for u in plan.units]
    assert {json.loads(p.read_text())["fingerprint"] for p in done} == {plan.fingerprint}
    assert verify(str(out)).ok
    record = json.loads(done[0].read_text())
    done[0].write_text(json.dumps({**record, "fingerprint": "0" * 64}))  # a unit left by another version
    ingest_path = Path(outputs.ingest_done_path(str(out), "clotho"))
    ingest_path.write_text(json.dumps({**ingest, "fingerprint": "1" * 64}))  # a manifest ingested again since
    report = verify(str(out))
    assert any(done[0].name in p and "0" * 64 in p and "mixes" in p for p in report.problems), report.problems
    assert any("manifests/clotho.parquet" in p and "ingested again" in p for p in report.problems), report.problems
    result = audioprep("verify", str(out), check=False)
    assert result.returncode == 1 and "mixes work of different code" in " ".join(result.stdout.split() + result.stderr.split())
    with pytest.raises(PlanError, match="made under another plan"):  # and a resume refuses to go on
        UnitProcessor(str(out))(plan.units[0])
