"""The training reader's and the export's throughput, beside the FLAC decode bound measured in the same run.

```
.venv/bin/python bench/reader.py                       # 600 demo LibriSpeech clips (~30 min of audio)
.venv/bin/python bench/reader.py --clips 200 --repeat 1 --out /tmp/reader.json
```

A run of the pipeline over synthetic LibriSpeech clips (written and run once, then cached under
``--work``) is read back in this process, each figure the median of ``--repeat`` passes, CPU time
of this process: the **bound** decodes every training FLAC held in memory (soundfile, float32, as
the reader does); the **reader** yields every row of the training set (``AudioReader``, one row per
sample; shard reading, JSON, shuffle buffer and decoding included), without and with 80-bin log-mel
features; the **export** writes the set as ms-swift rows and audio files into a fresh folder. Figures:
samples per second (wall) and audio seconds per CPU second; the reader's efficiency is its audio
seconds per CPU second over the bound's (goal: at least 0.8). Written to ``--out`` and printed.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.demo import write_librispeech  # noqa: E402
from pipelines.export.command import export  # noqa: E402
from pipelines.reader.dataset import AudioReader  # noqa: E402
from pipelines.reader.shards import iter_samples, open_run  # noqa: E402


def prepare(work: Path, clips: int) -> Path:
    """A finished run of ``clips`` training clips (2-4 s each) under ``work``, made once."""
    out = work / f"run-{clips}"
    if (out / "summary.json").exists():
        return out
    corpus = work / f"librispeech-{clips}"
    shutil.rmtree(corpus, ignore_errors=True)
    write_librispeech(str(corpus), {"train-clean-5": clips}, missing_audio=False)
    command = [str(Path(sys.executable).with_name("audioprep")), "run", f"--dataset=librispeech={corpus}", "--out", str(out),
               "--engine", "local", "--overwrite"]
    subprocess.run(command, check=True, capture_output=True, timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return out


def measure(passes: int, work) -> dict:
    """Median wall and CPU seconds of ``work()`` over ``passes``, with what the last pass returned."""
    walls, cpus, result = [], [], None
    for _ in range(passes):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "result": result}


def figures(measured: dict, samples: int, audio_seconds: float) -> dict:
    return {
        "samples": samples,
        "wall_s": round(measured["wall_s"], 3),
        "cpu_s": round(measured["cpu_s"], 3),
        "samples_per_s": round(samples / measured["wall_s"], 1),
        "audio_s_per_cpu_s": round(audio_seconds / measured["cpu_s"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "reader")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reader.json")
    args = parser.parse_args()
    out = prepare(args.work, args.clips)

    with open_run(str(out)) as run:
        flacs = [s.flac for entry in run.set_shards("train") for s in iter_samples(os.path.join(str(out), entry.path))]
    audio_seconds = sum(sf.info(io.BytesIO(flac)).duration for flac in flacs)

    def bound():
        return sum(len(sf.read(io.BytesIO(flac), dtype="float32")[0]) for flac in flacs)

    def read(mel_bins=None):
        return lambda: sum(1 for _ in AudioReader(str(out), "train", rows="sample", mel_bins=mel_bins))

    def exported():
        target = tempfile.mkdtemp(prefix="reader-bench-export-")
        try:
            return export(str(out), "ms-swift", target, sets=["train"])["sets"]["train"]["samples"]
        finally:
            shutil.rmtree(target, ignore_errors=True)

    results = {"bound": figures(measure(args.repeat, bound), len(flacs), audio_seconds)}
    for name, work in (("reader", read()), ("reader_logmel80", read(80)), ("export_ms_swift", exported)):
        measured = measure(args.repeat, work)
        if measured["result"] != len(flacs):
            raise SystemExit(f"{name} gave {measured['result']} samples, the set holds {len(flacs)}")
        results[name] = figures(measured, len(flacs), audio_seconds)
    for name in ("reader", "reader_logmel80", "export_ms_swift"):
        results[name]["of_bound"] = round(results[name]["audio_s_per_cpu_s"] / results["bound"]["audio_s_per_cpu_s"], 3)
    report = {
        "corpus": {"clips": len(flacs), "audio_seconds": round(audio_seconds, 1), "run": os.path.relpath(out, ROOT)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "soundfile": sf.__version__,
                    "libsndfile": sf.__libsndfile_version__, "repeat": args.repeat},
        "results": results,
        "goal": {"reader_of_bound": 0.8, "met": results["reader"]["of_bound"] >= 0.8},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{len(flacs)} clips, {audio_seconds / 60:.1f} min of audio; medians of {args.repeat} passes")
    print(f"{'':18} {'samples/s':>10} {'audio s/CPU s':>14} {'of bound':>9}")
    for name, row in results.items():
        print(f"{name:18} {row['samples_per_s']:>10} {row['audio_s_per_cpu_s']:>14} {row.get('of_bound', 1.0):>9}")


if __name__ == "__main__":
    main()
