"""What measuring audio quality costs: the metrics against the codec loop, on the bench corpus's clips.

For every clip of the bench corpus (``bench/corpus.py``: FLAC 16 kHz, WAV 44.1 kHz stereo, MP3 48 kHz
stereo), in one process: the codec loop's work (``audio.load`` then ``audio.encode_flac``, as
``bench/jobs.py`` times it) and, apart, ``quality.measure`` on the decoded clip (as the audio stage
calls it: speech, with the transcript). CPU time of each, best of ``--passes``; the figure is the
metrics' CPU as a share of the codec loop's, overall and per source format (goal: at most 10%).

    .venv/bin/python bench/quality.py                    # 0.25 h corpus under bench/work/quality-corpus
    .venv/bin/python bench/quality.py --hours 1 --passes 3
    .venv/bin/python bench/quality.py --dnsmos 12      # also DNSMOS (the dnsmos extra) on 12 clips, on its own
    .venv/bin/python bench/quality.py --run 4 --hours 1  # also 4 runs with and 4 without the metrics

``--run N`` measures ``audioprep run`` over the same corpus (three datasets, one per format, as
``bench/runs.py`` runs them), N times with the metrics and N times without, alternating, each run a
fresh output and its own process tree (``bench/measure.py``: CPU of every descendant). Without the
metrics is a benchmark-only mode: the run's process replaces ``quality.measure`` with a function that
measures nothing before the command starts (the local engine, and Beam's local runner with one
worker, run the stages in that process; a run is checked to have measured, or not, from its
statistics). It reports the run's CPU with and without (best of N, and every pass), their ratio, and
the codec-loop figure above, and writes all of it to ``bench/results/quality.json`` (``--results``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import measure as tree  # noqa: E402
from bench.corpus import audio_files, build_corpus  # noqa: E402
from bench.env import BENCH, ENV, log  # noqa: E402
from pipelines.core import audio  # noqa: E402
from pipelines.prepare import quality  # noqa: E402

RESULTS = os.path.join(BENCH, "results", "quality.json")

TEXT = "the quick brown fox jumps over a lazy dog while seven bright stars shine"


def measure(files: list[str], passes: int) -> dict:
    """CPU seconds per format of the codec work and of the metrics, the best pass of each."""
    for path in {os.path.splitext(p)[1]: p for p in files}.values():  # warm-up, untimed (and the WADA table)
        quality.measure(audio.load(path).samples, speech=True, text=TEXT)
    best: dict[str, dict] = {}
    for _ in range(passes):
        formats: dict[str, dict] = {}
        for path in files:
            start = time.process_time()
            clip = audio.load(path)
            audio.encode_flac(clip)
            middle = time.process_time()
            quality.measure(clip.samples, speech=True, text=TEXT)
            end = time.process_time()
            entry = formats.setdefault(os.path.splitext(path)[1][1:], {"files": 0, "seconds": 0.0, "codec_cpu_s": 0.0, "metrics_cpu_s": 0.0})
            entry["files"] += 1
            entry["seconds"] += clip.seconds
            entry["codec_cpu_s"] += middle - start
            entry["metrics_cpu_s"] += end - middle
        for fmt, entry in formats.items():
            for key in ("codec_cpu_s", "metrics_cpu_s"):
                kept = best.setdefault(fmt, dict(entry))
                kept[key] = min(kept[key], entry[key])
    return best


def measure_dnsmos(files: list[str], clips: int) -> dict:
    """DNSMOS's CPU (every thread of this process) per audio second over ``clips`` clips, after one
    untimed clip (model loading, librosa's compilation)."""
    from pipelines.prepare import dnsmos

    dnsmos.measure(audio.load(files[0]).samples)
    chosen = files[1 : 1 + clips]
    seconds = cpu = 0.0
    for path in chosen:
        clip = audio.load(path)
        start = time.process_time()
        dnsmos.measure(clip.samples)
        cpu += time.process_time() - start
        seconds += clip.seconds
    return {"clips": len(chosen), "seconds": round(seconds, 1), "cpu_s": round(cpu, 3), "x_per_cpu_s": round(seconds / cpu, 2)}


def report(formats: dict) -> dict:
    rows = {}
    for fmt, entry in sorted(formats.items()):
        rows[fmt] = {**{k: round(v, 4) if isinstance(v, float) else v for k, v in entry.items()},
                     "share": round(entry["metrics_cpu_s"] / entry["codec_cpu_s"], 4)}
    codec = sum(e["codec_cpu_s"] for e in formats.values())
    metrics = sum(e["metrics_cpu_s"] for e in formats.values())
    seconds = sum(e["seconds"] for e in formats.values())
    rows["all"] = {"seconds": round(seconds, 1), "codec_cpu_s": round(codec, 4), "metrics_cpu_s": round(metrics, 4),
                   "share": round(metrics / codec, 4), "metrics_x_per_cpu_s": round(seconds / metrics, 1)}
    return rows


def _run_command(info: dict, out: str, metrics: bool, engine: str) -> list[str]:
    """This script as the run's process: ``audioprep run`` over the corpus's three formats, on
    ``engine`` with one worker, with or without the metrics."""
    f = info["formats"]
    return [
        sys.executable, os.path.abspath(__file__), "--_pipeline", "with" if metrics else "without", "--",
        "run", "--dataset", f"librispeech={f['flac']['root']}",
        "--dataset", f"libri_wav:{os.path.join(BENCH, 'schemas', 'libri_wav.yaml')}={f['wav']['root']}",
        "--dataset", f"libri_mp3:{os.path.join(BENCH, 'schemas', 'libri_mp3.yaml')}={f['mp3']['root']}",
        "--out", out, "--engine", engine, "--workers", "1", "--overwrite",
    ]


def _pipeline(mode: str, argv: list[str]) -> None:
    """The run's process: the ``audioprep`` command with ``argv``; ``without``: no metric measured."""
    if mode == "without":
        quality.measure = lambda samples, speech, text=None: {}
    from pipelines.cli import main as audioprep

    sys.argv = ["audioprep", *argv]
    audioprep()


def _measured_quality(out: str) -> bool:
    """Whether a finished run measured its clips: its statistics hold quality histograms."""
    with open(os.path.join(out, "stats.json"), encoding="utf-8") as handle:
        return "samples_by_quality" in handle.read()


def measure_runs(info: dict, passes: int, engine: str, work: str) -> dict:
    """CPU seconds of the run's process tree, ``passes`` runs with the metrics and as many without,
    alternating (so that the machine's other load falls on both alike)."""
    cpu: dict[str, list[float]] = {"with": [], "without": []}
    wall: dict[str, list[float]] = {"with": [], "without": []}
    out = os.path.join(work, "run-out")
    for i in range(passes):
        for metrics in (True, False):
            mode = "with" if metrics else "without"
            shutil.rmtree(out, ignore_errors=True)
            run = tree.run(_run_command(info, out, metrics, engine), os.path.join(work, f"run-{mode}.log"), env=ENV).check()
            if _measured_quality(out) != metrics:
                raise RuntimeError(f"the run {mode} the metrics {'did not measure' if metrics else 'measured'} its clips")
            cpu[mode].append(round(run.cpu_s, 2))
            wall[mode].append(round(run.wall_s, 2))
            log(f"run {i + 1}/{passes} {mode} the metrics: {run.cpu_s:.2f} CPU s, {run.wall_s:.2f} s")
    shutil.rmtree(out, ignore_errors=True)
    best = {mode: min(values) for mode, values in cpu.items()}
    return {
        "engine": engine, "workers": 1, "passes": passes, "audio_s": round(info_seconds(info), 1),
        "cpu_s_with": best["with"], "cpu_s_without": best["without"],
        "ratio": round(best["with"] / best["without"], 4),
        "metrics_cpu_s": round(best["with"] - best["without"], 2),
        "passes_cpu_s": cpu, "passes_wall_s": wall,
        "median_ratio": round(statistics.median(cpu["with"]) / statistics.median(cpu["without"]), 4),
        # each run with the metrics against the run without them that followed it
        "pair_ratios": [round(w / wo, 4) for w, wo in zip(cpu["with"], cpu["without"])],
        "spread": {mode: round((max(v) - min(v)) / min(v), 4) for mode, v in cpu.items()},
    }


def info_seconds(info: dict) -> float:
    return sum(f["seconds"] for f in info["formats"].values())


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True)
    return done.stdout.strip()


def write_results(rows: dict, args) -> None:
    """``args.results`` (``results/quality.json``): this codec-loop measurement and this engine's runs,
    beside the other engine's runs from an earlier measurement (each entry says when and at which commit)."""
    stamp = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": _commit()}
    previous = {}
    if os.path.exists(args.results):
        with open(args.results, encoding="utf-8") as handle:
            previous = json.load(handle)
    codec = {k: v for k, v in rows.items() if k not in ("run", "dnsmos")}
    written = {
        "codec_loop": {**stamp, "hours": args.hours, "passes": args.passes, "formats": codec},
        "runs": {**previous.get("runs", {}), args.engine: {**stamp, "hours": args.hours, **rows["run"]}},
    }
    if "dnsmos" in rows:
        written["dnsmos"] = rows["dnsmos"]
    elif "dnsmos" in previous:
        written["dnsmos"] = previous["dnsmos"]
    with open(args.results, "w", encoding="utf-8") as handle:
        json.dump(written, handle, indent=1)
        handle.write("\n")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--_pipeline":
        return _pipeline(sys.argv[2], sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.25)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--dnsmos", type=int, default=0, help="also time DNSMOS on this many clips")
    parser.add_argument("--run", type=int, default=0, metavar="N", help="also N runs with and N without the metrics")
    parser.add_argument("--engine", default="local", choices=("local", "beam"), help="the runs' engine (one worker)")
    parser.add_argument("--work", default=str(Path(__file__).resolve().parent / "work" / "quality-corpus"))
    parser.add_argument("--results", default=RESULTS, help="the JSON file --run writes (and adds its engine's runs to)")
    args = parser.parse_args()
    info = build_corpus(args.work, args.hours)
    rows = report(measure(audio_files(info), args.passes))
    print(f"{'source':<8}{'audio s':>10}{'codec CPU s':>14}{'metrics CPU s':>16}{'metrics/codec':>15}")
    for fmt, row in rows.items():
        print(f"{fmt:<8}{row['seconds']:>10.1f}{row['codec_cpu_s']:>14.3f}{row['metrics_cpu_s']:>16.3f}{row['share']:>15.1%}")
    if args.dnsmos:
        rows["dnsmos"] = measure_dnsmos(audio_files(info), args.dnsmos)
        codec_per_second = rows["all"]["codec_cpu_s"] / rows["all"]["seconds"]
        rows["dnsmos"]["of_codec"] = round(rows["dnsmos"]["cpu_s"] / rows["dnsmos"]["seconds"] / codec_per_second, 1)
        print(f"DNSMOS: {rows['dnsmos']['x_per_cpu_s']} audio s per CPU s, {rows['dnsmos']['of_codec']}x the codec loop's CPU")
    if args.run:
        rows["run"] = measure_runs(info, args.run, args.engine, os.path.dirname(os.path.abspath(args.work)))
        run = rows["run"]
        print(f"audioprep run ({run['engine']}, 1 worker, {run['audio_s']:.0f} audio s): {run['cpu_s_with']:.2f} CPU s with "
              f"the metrics, {run['cpu_s_without']:.2f} without (best of {run['passes']}): {run['ratio'] - 1:+.1%}; "
              f"codec loop: metrics {rows['all']['share']:.1%} of it")
        write_results(rows, args)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
