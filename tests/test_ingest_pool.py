"""Corpora ingested side by side (pipelines/ingest/pool.py): the same manifests and plan as one
after another, their progress reported, and no pandas in the ingest processes."""
import json
import os

import pytest

from pipelines.core.config import DatasetSpec, RunConfig
from pipelines.plan.planner import make_plan


def test_datasets_ingested_side_by_side_plan_the_same_bytes_and_name_a_failing_corpus(demo_corpora, tmp_path, monkeypatch):
    """One process or two, large unit-file buffers or tiny ones (flushed per file and all at once
    when their total is reached): the same plan, byte for byte."""
    from pipelines.plan import partition as module

    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted(demo_corpora.items()))
    plans = {}
    for processes, unit_buffers in ((1, None), (2, None), (1, 3000)):
        if unit_buffers:
            monkeypatch.setattr(module, "UNIT_BUFFERS_BYTES", unit_buffers)
            monkeypatch.setattr(module, "PARTITION_BUFFER_BYTES", 700)
        out = tmp_path / f"out-{processes}-{unit_buffers}"
        plan = make_plan(RunConfig(datasets=specs, out=str(out), shard_max_samples=20), processes=processes)
        assert len(plan.units) > 5
        plans[processes, unit_buffers] = {p.relative_to(out).as_posix(): p.read_bytes().replace(str(out).encode(), b"OUT")
                                          for p in sorted(out.rglob("*")) if p.is_file()}  # plan.json names its folder
    assert plans[1, None] == plans[2, None] == plans[1, 3000] and any(path.startswith("manifests/") for path in plans[1, None])
    broken = specs + (DatasetSpec("missing", "librispeech", str(tmp_path / "no-such-corpus")),)
    with pytest.raises(FileNotFoundError, match="no-such-corpus.*'missing'"):  # raised in its process, re-raised here
        make_plan(RunConfig(datasets=broken, out=str(tmp_path / "out-broken")), processes=2)


def test_ingest_processes_do_without_pandas_yet_can_import_it_and_the_run_s_own_process_keeps_it(demo_corpora, tmp_path):
    """pyarrow would import pandas in each ingest process (~40 MB, ~0.25 CPU s) to ask whether a list
    is a pandas object; those processes answer it without pandas and still write their manifests,
    and pandas stays importable in them (a plugin reader may use it), as in the process that started
    them (an engine may need it). In a fresh interpreter, so that no earlier test has loaded pandas
    into the processes it forks."""
    import subprocess
    import sys

    (tmp_path / "probe_ingest.py").write_text(
        "import importlib.util, os, sys\n"
        "from pipelines.ingest import pool\n"
        "real = pool._run_in_process\n"
        "def _run_in_process(out, task, reporting):\n"
        "    result = real(out, task, reporting)\n"
        "    with open(os.path.join(out, f'pandas-{os.getpid()}-{task.replace(\"/\", \".\")}'), 'w') as handle:\n"
        "        handle.write(f\"{'pandas' in sys.modules} {importlib.util.find_spec('pandas') is not None}\")\n"
        "    return result\n"
    )
    script = (
        "import json, sys, importlib.util\n"
        "import probe_ingest\n"
        "from pipelines.ingest import pool\n"
        "from pipelines.core.config import DatasetSpec, RunConfig\n"
        "pool._run_in_process = probe_ingest._run_in_process\n"
        f"specs = tuple(DatasetSpec(n, n, r) for n, r in sorted({dict(demo_corpora)!r}.items()))\n"
        f"counts = pool.ingest_all(RunConfig(datasets=specs, out={str(tmp_path / 'out')!r}), {str(tmp_path / 'out')!r}, print, processes=2)\n"
        "import pandas\n"
        "print(json.dumps(counts))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])})
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(counts) == set(demo_corpora) and all(c["records"] > 0 for c in counts.values()), counts
    probes = {p.name: p.read_text() for p in (tmp_path / "out").glob("pandas-*")}
    # a task per corpus, none with pandas imported, each where it could be
    assert len(probes) == len(demo_corpora) and set(probes.values()) == {"False True"}, probes
    assert not any(name.startswith(f"pandas-{os.getpid()}-") for name in probes)  # run in the pool's processes
    assert all((tmp_path / "out" / "manifests" / f"{name}.parquet").exists() for name in demo_corpora)


def test_ingest_reports_how_many_items_each_corpus_has_read(demo_corpora, tmp_path, monkeypatch):
    """The progress display's counts: every metadata item of each corpus (records and drops), in
    this process or from the corpora's own processes (through a file each, then removed)."""
    from pipelines.ingest import part as module

    monkeypatch.setattr(module, "REPORT_EVERY", 3)
    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted(demo_corpora.items()))
    for processes in (1, 2):
        out = tmp_path / f"out-{processes}"
        reports: dict[str, list[int]] = {}
        plan = make_plan(RunConfig(datasets=specs, out=str(out)), processes=processes,
                         seen=lambda name, count: reports.setdefault(name, []).append(count))
        assert set(reports) == {spec.name for spec in specs}
        for name, counts in reports.items():
            assert counts == sorted(counts) and counts[-1] == plan.inputs[name], (processes, name, counts)
        if processes == 1:
            assert len(reports["librispeech"]) > 1  # every 3 items, then the last
        assert not list(out.rglob("*.progress"))
