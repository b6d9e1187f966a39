"""The measured runs: the codec bound, the ingest passes, ``audioprep run`` on an engine, lhotse.

``Bench`` runs each as its own process tree (``measure.run``: wall time, CPU of every descendant,
peak RSS) and returns its row of figures; every pipeline and lhotse run sits between two passes of
the codec loop (``bracketed``), the machine's speed while it ran.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from bench import corpus as corpora
from bench import measure
from bench.env import BENCH, ENV, ROOT, log
from bench.figures import derive
from bench.jobs import INGEST_PASSES
from bench.machine import busy_others

LHOTSE_VENV = "lhotse-venv"
TORCH_PIN = "torch==2.13.0"  # a CPU wheel of this version lies on the development machine


def shard_bytes(out: str) -> int:
    with open(os.path.join(out, "index.json"), encoding="utf-8") as handle:
        return sum(s["bytes"] for s in json.load(handle)["shards"])


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.results: dict = {}
        self.listing: str | None = None  # the 1x corpus's audio files, for the codec loop
        self.speed: float | None = None  # the codec loop's audio s per CPU s, measured last
        self.passes: list[float] = []  # every such measurement, in order

    def timed(self, name: str, command: list[str], **kwargs) -> measure.Measured:
        before = busy_others(0.5)
        result = measure.run(command, os.path.join(self.logs, f"{name}.log"), cwd=ROOT, env=ENV, **kwargs).check()
        result.samples = [before]
        return result

    def calibrate(self) -> float:
        """One pass of the codec loop over the 1x corpus, now: this machine's speed at this moment
        (audio s per CPU s). On a VM whose speed moves between passes minutes apart (other tenants;
        bench/README.md), a run is compared with the loop measured just before and after it (``bracketed``)."""
        tar_path = os.path.join(self.work, "calibration.tar")
        done = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--_codec-loop", self.listing, tar_path, "1"],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
        os.remove(tar_path)
        loop = json.loads(done.stdout.strip().splitlines()[-1])
        self.speed = loop["seconds"] / loop["cpu_s"]
        self.passes.append(self.speed)
        return self.speed

    def bracketed(self, measure_run) -> dict:
        """``measure_run()`` between two passes of the codec loop; the row gets both speeds and the
        faster, ``bound_speed``: the codec loop's audio s per CPU s while the run ran, taken as the
        bound itself is (the best of two passes), so that without drift it is the bound, on average."""
        before = self.speed if self.speed is not None else self.calibrate()
        row = measure_run()
        after = self.calibrate()
        row["bound_speeds"] = [before, after]
        row["bound_speed"] = max(before, after)
        return row

    # -------------------------------------------------------------- the codec bound

    def codec_bound(self, info: dict) -> dict:
        files = corpora.audio_files(info)
        listing = self.listing = os.path.join(self.work, "codec-files.json")
        with open(listing, "w", encoding="utf-8") as handle:
            json.dump(files, handle)
        tar_path = os.path.join(self.work, "codec-loop.tar")
        log(f"codec bound: tight loop over {len(files)} files (best of 2 passes)")
        run = self.timed("codec", [sys.executable, os.path.join(BENCH, "run.py"), "--_codec-loop", listing, tar_path, "2"])
        loop = json.loads(open(run.log, encoding="utf-8").read().strip().splitlines()[-1])
        os.remove(tar_path)
        row = {
            "name": "codec bound (1 process, in-loop)",
            "workers": 1,
            "wall_s": loop["wall_s"],
            "cpu_s": loop["cpu_s"],
            "measures_cpu_s": loop["measures_cpu_s"],
            "audio_s": loop["seconds"],
            "bytes": loop["bytes"],
            "peak_rss_mb": run.peak_rss_mb,
            "peak_rss_mb_by_kind": run.peak_by_kind,
            "cpu_s_by_kind": run.cpu_by_kind,
            "process_cpu_s": run.cpu_s,
            "formats": {
                ext: {**f, "x_per_cpu_s": f["seconds"] / f["cpu_s"]} for ext, f in loop["formats"].items()
            },
            "busy_others": run.samples[0],
        }
        return derive(row)

    # -------------------------------------------------------------- ingest

    def ingest(self, records: int, flac_root: str) -> dict:
        """Records per CPU second of the fastest of ``INGEST_PASSES`` passes: pure Python, the figure moves
        with the VM's other tenants within minutes (bench/README.md); the fastest pass is the code's
        speed, as the codec bound's best pass is the codecs'."""
        root = corpora.build_table_corpus(os.path.join(self.work, f"table-{records}"), records, flac_root)
        out = os.path.join(self.work, "ingest-out")
        shutil.rmtree(out, ignore_errors=True)
        log(f"ingest: {records} table rows with a duration column (no audio read)")
        run = self.timed("ingest", [sys.executable, os.path.join(BENCH, "run.py"), "--_ingest",
                                    os.path.join(BENCH, "schemas", "table_durations.yaml"), root, out, str(INGEST_PASSES)])
        job = json.loads(open(run.log, encoding="utf-8").read().strip().splitlines()[-1])
        shutil.rmtree(out, ignore_errors=True)
        return {
            "records": job["records"],
            "drops": job["drops"],
            "unknown_durations": job["unknown_seconds"],
            "wall_s": job["wall_s"],
            "cpu_s": job["cpu_s"],
            "records_per_s": job["records"] / job["wall_s"],
            "records_per_cpu_s": job["records"] / job["cpu_s"],
            "passes_records_per_cpu_s": [job["records"] / cpu for cpu in job["passes_cpu_s"]],
            "process_wall_s": run.wall_s,
            "peak_rss_mb": run.peak_rss_mb,
            "peak_rss_mb_by_kind": run.peak_by_kind,
            "cpu_s_by_kind": run.cpu_by_kind,
            "how": f"pipelines.ingest.manifest.ingest_dataset(spec, out, probe_durations=False) (tasks listed, run and merged), in one process, the fastest of "
                   f"{INGEST_PASSES} passes; durations come from the table's duration column (schema record.duration), so nothing is probed",
        }

    # -------------------------------------------------------------- the pipeline

    def pipeline(self, info: dict, engine: str, workers: int, label: str) -> dict:
        return self.bracketed(lambda: self._pipeline(info, engine, workers, label))

    def _pipeline(self, info: dict, engine: str, workers: int, label: str) -> dict:
        out = os.path.join(self.work, f"out-{label}")
        shutil.rmtree(out, ignore_errors=True)
        f = info["formats"]
        command = [
            sys.executable, "-m", "pipelines.cli", "run",
            "--dataset", f"librispeech={f['flac']['root']}",
            "--dataset", f"libri_wav:{os.path.join(BENCH, 'schemas', 'libri_wav.yaml')}={f['wav']['root']}",
            "--dataset", f"libri_mp3:{os.path.join(BENCH, 'schemas', 'libri_mp3.yaml')}={f['mp3']['root']}",
            "--out", out, "--engine", engine, "--workers", str(workers),
            "--shard-max-samples", str(self.args.shard_samples), "--overwrite",
        ]
        log(f"pipeline {label}: {engine}, {workers} worker(s), {sum(x['seconds'] for x in f.values()) / 3600:.2f} h")
        run = self.timed(label, command)
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as handle:
            summary = json.load(handle)
        if summary["quarantined"]:
            raise RuntimeError(f"{label}: {summary['quarantined']} records quarantined: {summary['quarantine_reasons']}")
        row = {
            "name": f"{engine}, {workers} worker{'s' if workers > 1 else ''}",
            "engine": engine,
            "workers": workers,
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "audio_s": summary["seconds"],
            "samples": summary["written"],
            "bytes": shard_bytes(out),
            "peak_rss_mb": run.peak_rss_mb,
            "peak_rss_mb_by_kind": run.peak_by_kind,
            "cpu_s_by_kind": run.cpu_by_kind,
            "processes": run.processes,
            "busy_others": run.samples[0],
        }
        if not self.args.keep:
            shutil.rmtree(out, ignore_errors=True)
        return derive(row)

    # -------------------------------------------------------------- lhotse

    def lhotse_python(self) -> str:
        venv = os.path.join(self.work, LHOTSE_VENV)
        python = os.path.join(venv, "bin", "python")
        check = [python, "-c", "import lhotse, scipy, torch; print(lhotse.__version__, torch.__version__, scipy.__version__)"]
        if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
            return python
        log(f"creating {venv} ({TORCH_PIN}, lhotse, scipy)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        pip = [python, "-m", "pip", "install", "--quiet"]
        # torch first and pinned: an unpinned torch would be a multi-GB CUDA build
        subprocess.run(pip + [TORCH_PIN], check=True)
        # lhotse 1.33 imports urllib3 without declaring it; scipy is its resampler without torchaudio
        subprocess.run(pip + [TORCH_PIN, "lhotse", "scipy", "urllib3"], check=True)
        subprocess.run(check, check=True)
        return python

    def lhotse(self, info: dict, jobs: int, label: str) -> dict:
        python = self.lhotse_python()  # the venv is made (once) and checked outside the bracket
        return self.bracketed(lambda: self._lhotse(python, info, jobs, label))

    def _lhotse(self, python: str, info: dict, jobs: int, label: str) -> dict:
        out = os.path.join(self.work, f"out-{label}")
        shutil.rmtree(out, ignore_errors=True)
        corpus_json = os.path.join(self.work, f"{label}-corpus.json")
        with open(corpus_json, "w", encoding="utf-8") as handle:
            json.dump({**info, "formats": {k: {**v, "root": os.path.abspath(v["root"])} for k, v in info["formats"].items()}}, handle)
        log(f"lhotse {label}: {jobs} job(s)")
        run = self.timed(label, [python, os.path.join(BENCH, "lhotse_job.py"), corpus_json, out, str(jobs), str(self.args.shard_samples)])
        job = json.loads(open(run.log, encoding="utf-8").read().strip().splitlines()[-1])
        if not self.args.keep:
            shutil.rmtree(out, ignore_errors=True)
        return derive({
            "name": f"lhotse, {jobs} job{'s' if jobs > 1 else ''}",
            "engine": "lhotse",
            "workers": jobs,
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "audio_s": job["seconds"],
            "samples": job["cuts"],
            "bytes": job["bytes"],
            "peak_rss_mb": run.peak_rss_mb,
            "peak_rss_mb_by_kind": run.peak_by_kind,
            "cpu_s_by_kind": run.cpu_by_kind,
            "processes": run.processes,
            "steps_s": {k: job[k] for k in ("import_s", "prepare_s", "export_s")},
            "lhotse": job["lhotse"],
            "busy_others": run.samples[0],
        })
