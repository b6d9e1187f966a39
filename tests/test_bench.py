"""bench/run.py runs at a tiny size (twice, summarized) and writes results.json with every figure the issue asks for.

Speed is not asserted here (the machine running the tests may be busy): only that each figure is
present and sane. The real measurement is `python bench/run.py` (bench/README.md).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_runs_at_a_tiny_size(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    result = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "run.py"), "--hours", "0.02", "--quick",
         "--out", str(out), "--work", str(work), "--ingest-records", "2000", "--repeat", "2"],
        cwd=PROJECT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # --repeat 2: two whole measurements, the median and range of each figure, and the results of one run
    runs = [json.loads((out / f"run-{n}" / "results.json").read_text()) for n in (1, 2)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 2 and summary["results_from"] in ("run-1", "run-2")
    ingest = next(row for row in summary["figures"] if row["figure"] == "ingest records per CPU second")
    assert sorted(ingest["values"]) == sorted(run["ingest_records_per_cpu_s"] for run in runs)
    assert ingest["min"] <= ingest["median"] <= ingest["max"] and ingest["met_by_median"] in (True, False)
    assert {row["engine"] for row in summary["figures"]} == {"ray", "beam", ""}
    assert "| ingest records per CPU second | - |" in (out / "summary.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads((out / summary["results_from"] / "results.json").read_text())
    for key in ("cpu_efficiency", "scaling_2_workers", "peak_rss_mb", "lhotse_ratio", "ingest_records_per_s"):
        assert key in results, key
    assert 0 < results["cpu_efficiency"] < 2
    # the headline figures are those of the engine a local run uses when it names none: Beam
    assert results["cpu_efficiency"] == results["derived"]["beam"]["efficiency"]["1x"] != results["derived"]["ray"]["efficiency"]["1x"]
    assert results["scaling_2_workers"] == results["derived"]["beam"]["scaling_2_workers"]["1x"]
    assert 0 < results["scaling_2_workers"] < 3
    assert set(results["peak_rss_mb"]) >= {"1x", "4x", "16x"}
    assert results["peak_rss_mb"]["1x"] > 10  # a Python process tree is at least this big
    assert results["lhotse_ratio"] is None  # --quick skips lhotse
    assert results["ingest_records_per_s"] > 0 and results["ingest"]["records"] == 2000
    assert results["ingest"]["unknown_durations"] == 0  # durations came from the table, nothing probed
    passes = results["ingest"]["passes_records_per_cpu_s"]  # the fastest of three passes counts
    assert len(passes) == 3 and results["ingest_records_per_cpu_s"] == max(passes)

    codec = results["codec_bound"]
    assert set(codec["formats"]) == {"flac", "wav", "mp3"}
    assert codec["audio_s"] > 0.9 * 0.02 * 3600
    names = {row["name"] for row in results["runs"]}
    assert {"ray, 1 worker", "ray, 2 workers", "beam, 1 worker", "beam, 2 workers"} <= names
    for row in results["runs"]:
        # every run wrote all the audio of the corpus and was measured over its process tree
        assert abs(row["audio_s"] - codec["audio_s"]) < 1.0, row["name"]
        assert row["cpu_s"] > 0 and row["wall_s"] > 0 and row["peak_rss_mb"] > 0
        assert row["shard_mb_per_s"] > 0
        assert row["efficiency_start"] == pytest.approx(row["audio_s_per_cpu_s"] / codec["audio_s_per_cpu_s"])
    # every pipeline run sits between two passes of the codec loop (the machine's speed around it) and
    # its efficiency is against the faster of them; consecutive runs share the pass between them
    pipelines = [row for row in results["runs"] if row["name"] != "codec bound (1 process, in-loop)"]
    speed = results["machine_speed"]
    assert speed["passes"] == len(pipelines) + 1 and len(speed["speeds"]) == speed["passes"]
    for number, row in enumerate(pipelines):
        assert row["bound_speeds"] == speed["speeds"][number:number + 2], row["name"]
        assert row["bound_speed"] == max(row["bound_speeds"]) > 0
        assert row["efficiency"] == pytest.approx(row["audio_s_per_cpu_s"] / row["bound_speed"])
    # derived figures count each run's CPU at the bound's speed; the uncorrected ones are kept beside
    # the work bound: the per-clip measures (quality metrics, PCM hash) timed apart from the codecs
    work = 1 + codec["measures_cpu_s"] / codec["cpu_s"]
    assert 0 < codec["measures_cpu_s"] < codec["cpu_s"]
    for engine in ("ray", "beam"):
        two = next(row for row in pipelines if row["name"] == f"{engine}, 2 workers")
        assert results["derived"][engine]["efficiency"]["1x"] == pytest.approx(two["efficiency"])
        assert results["derived_uncorrected"][engine]["efficiency"]["1x"] == pytest.approx(two["efficiency_start"])
        assert results["derived"][engine]["efficiency_work"]["1x"] == pytest.approx(two["efficiency"] * work)
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["versions"]["python"]
    report = (out / "results.md").read_text()
    assert report.startswith("# audioprep benchmark") and "## Against the work bound" in report


@pytest.mark.slow
def test_bench_scaling_of_the_headline_engine_is_taken_at_the_largest_size_too(tmp_path):
    """Without --quick: 2 workers at every size, 1 worker at the second size and, for the headline engine
    (Beam, the default), at the largest too; its headline scaling is the largest size's."""
    out, work = tmp_path / "results", tmp_path / "work"
    result = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "run.py"), "--hours", "0.01", "--scales", "1,2,3", "--skip-lhotse",
         "--engines", "beam", "--out", str(out), "--work", str(work), "--ingest-records", "2000"],
        cwd=PROJECT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    scaling = results["derived"]["beam"]["scaling_2_workers"]
    assert {"1x", "2x", "3x"} <= set(scaling)  # and "steady", unless tiny runs on a busy machine leave no margin
    assert results["scaling_2_workers"] == scaling["3x"]
    runs = {(row["workers"], row["scale"]) for row in results["scaling"]}
    assert runs == {(2, "1x"), (2, "2x"), (2, "3x"), (1, "2x"), (1, "3x")}
    one, two = (next(row for row in results["scaling"] if row["scale"] == "3x" and row["workers"] == n) for n in (1, 2))
    assert one["audio_s"] == pytest.approx(two["audio_s"]) and one["audio_s"] > 2.9 * 0.01 * 3600
    # each wall time counted at the bound's speed around its run (bench/README.md, "Machine speed")
    bound = results["codec_bound"]["audio_s_per_cpu_s"]
    wall = {n: row["wall_s"] * row["bound_speed"] / bound for n, row in ((1, one), (2, two))}
    assert scaling["3x"] == pytest.approx((two["audio_s"] / wall[2]) / (one["audio_s"] / wall[1]))
    assert "2 workers / 1 worker wall throughput (beam, 3x corpus)" in (out / "results.md").read_text()
