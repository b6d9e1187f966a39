#!/usr/bin/env python
"""audioprep benchmark: throughput against the codec bound, memory against corpus size, lhotse.

    .venv/bin/python bench/run.py [--hours 2] [--out bench/results] [--quick] [--skip-lhotse] [--repeat 3]

Steps (each measured as a separate process tree: wall time, CPU of every descendant, peak RSS):
1. a synthetic corpus of HOURS of audio in LibriSpeech layout, a third each 16 kHz mono FLAC,
   44.1 kHz stereo WAV and 48 kHz stereo MP3 (bench/corpus.py; cached under bench/work/);
2. the codec bound: one process, a tight loop over the same files calling the pipeline's own
   ``pipelines.core.audio.load`` (decode, downmix, soxr HQ to 16 kHz) and ``encode_flac``, appending to
   one tar; best of two passes;
3. ingest speed: ``pipelines.ingest.manifest.ingest_dataset`` (tasks in one process) over a table corpus whose rows give durations;
   best of three passes;
4. ``audioprep run`` on the local engine (1 process), Ray and Beam with 1 and 2 workers;
5. memory scaling: the same run on 1x, 4x and 16x the corpus (hard-linked copies under new keys);
6. lhotse in its own venv (bench/work/lhotse-venv) on the same corpus (bench/lhotse_job.py).
Each run of 4-6 sits between two passes of the codec loop (the machine's speed while it ran).
The project's modules are byte-compiled first, as an installed package's are.
Writes OUT/results.json and OUT/results.md and prints the tables. bench/README.md explains them.
With ``--repeat N``: N measurements in OUT/run-1 ... and OUT/summary.md (bench/repeats.py).

This file is the command and the order of the runs; the runs themselves are in bench/runs.py (the
subprocesses' own work in bench/jobs.py), the figures in bench/figures.py, the report in
bench/report.py, the machine's description in bench/machine.py.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project, for ``bench``

from bench import corpus as corpora  # noqa: E402
from bench.env import BENCH, log  # noqa: E402
from bench.figures import derived, efficiency, headline, lhotse_comparison, speed_summary, targets  # noqa: E402
from bench.jobs import codec_loop, compiled_as_installed, ingest_job  # noqa: E402
from bench.machine import load_now, machine  # noqa: E402
from bench.report import markdown  # noqa: E402
from bench.runs import Bench  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="hours of audio in the 1x corpus (default 2)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"), help="where results.json and results.md go")
    parser.add_argument("--work", default=os.path.join(BENCH, "work"), help="corpora, outputs, logs, the lhotse venv")
    parser.add_argument("--engines", default="ray,beam", help="engines to measure (ray, beam)")
    parser.add_argument("--shard-samples", type=int, default=50, help="samples per shard (a work unit is 90%% of it)")
    parser.add_argument("--scales", default="1,4,16", help="corpus multiples for the memory runs")
    parser.add_argument("--ingest-records", type=int, default=None, help="table rows for ingest (default 100,000 per hour, at least 2,000)")
    parser.add_argument("--quick", action="store_true", help="skip lhotse and the scaling runs (a smoke test)")
    parser.add_argument("--skip-lhotse", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the outputs of each run under --work")
    parser.add_argument("--repeat", type=int, default=1, help="measure N times (OUT/run-1 ...) and write the median "
                        "and range of every target figure to OUT/summary.md and summary.json (default 1)")
    parser.add_argument("--_codec-loop", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--_ingest", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._codec_loop:
        codec_loop(args._codec_loop[0], args._codec_loop[1], int(args._codec_loop[2]))
        return 0
    if args._ingest:
        ingest_job(*args._ingest[:3], int(args._ingest[3]))
        return 0
    if args.repeat > 1:
        return repeated(args, list(sys.argv[1:] if argv is None else argv))

    started = datetime.now(timezone.utc)
    results = measure(args, started)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, default=str)
    text = markdown(results)
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    log(f"results in {args.out} ({(datetime.now(timezone.utc) - started).total_seconds():.0f} s)")
    return 0


def measure(args, started: datetime) -> dict:
    """One whole measurement: the corpus, the codec bound, ingest, the runs at every size, lhotse, and
    every figure computed from them (``results.json``)."""
    engines = [e for e in args.engines.split(",") if e]
    compiled_as_installed()
    bench = Bench(args)
    load_start = load_now()
    log(f"load average {load_start['load1']} (1 min), {load_start['load5']} (5 min)")
    info = corpora.build_corpus(os.path.join(bench.work, f"corpus-{args.hours:g}h"), args.hours, log=log)
    audio_s = sum(f["seconds"] for f in info["formats"].values())

    codec = bench.codec_bound(info)
    codec["efficiency"] = 1.0
    ingest_records = args.ingest_records or max(2000, int(100_000 * args.hours))
    ingest = bench.ingest(ingest_records, info["formats"]["flac"]["root"])

    runs, by_key = throughput_runs(bench, info, engines)
    runs.insert(0, codec)
    codec["bound_speed"] = codec["audio_s_per_cpu_s"]
    for row in runs:
        efficiency(row, codec)
    head = headline_engine(engines)
    scales = [int(s) for s in args.scales.split(",")]
    second = scales[1] if len(scales) > 1 else None
    scaling = [] if args.quick else scaling_runs(bench, info, args.hours, engines, head, scales, by_key, codec)

    lhotse_runs, lhotse_env = [], None
    if not args.quick and not args.skip_lhotse:
        lhotse_runs, lhotse_env = lhotse_side(bench, info, args.hours, second, runs, by_key, codec)
    comparison = lhotse_comparison(lhotse_runs, engines, by_key, codec)

    # derived figures per engine, at every size measured: end to end, and steady state (the extra
    # audio between the smallest and largest size, where start-up and other fixed costs cancel);
    # each run's CPU and wall time at the machine speed of the codec bound (figures.at_reference),
    # and once more as measured, against the bound from the start of the measurement
    families = engines + (["lhotse"] if lhotse_runs else [])
    figures = {engine: derived(by_key, engine, scales, codec, corrected=True) for engine in families}
    figures_uncorrected = {engine: derived(by_key, engine, scales, codec, corrected=False) for engine in families}
    top = headline(head, figures[head], comparison)
    load_end = load_now()
    # other processes' CPU measured just before each run (the load average also counts our own runs)
    busy_max = max(row.get("busy_others") or 0.0 for row in runs + scaling + lhotse_runs)
    per_core = ingest["records_per_cpu_s"]
    goals = targets(head, figures[head], top, per_core)
    return {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "lhotse_env": lhotse_env,
        "loaded": busy_max > 0.3,
        "load": {"start": load_start, "end": load_end, "busy_others_max": busy_max},
        "corpus": {
            "hours": args.hours, "audio_h": audio_s / 3600,
            "clips": sum(f["clips"] for f in info["formats"].values()),
            "formats": {k: {kk: vv for kk, vv in v.items() if kk != "root"} for k, v in info["formats"].items()},
        },
        "shard_samples": args.shard_samples,
        "headline_engine": head,
        **top,
        "ingest_records_per_s": ingest["records_per_s"],
        "ingest_records_per_cpu_s": per_core,
        "targets": goals,
        "derived": figures,
        "derived_uncorrected": figures_uncorrected,
        "machine_speed": speed_summary(bench.passes, codec),
        "codec_bound": codec,
        "ingest": ingest,
        "runs": runs,
        "scaling": scaling,
        "lhotse_runs": lhotse_runs,
        "lhotse_comparison": comparison,
    }


def throughput_runs(bench: Bench, info: dict, engines: list[str]) -> tuple[list[dict], dict[tuple, dict]]:
    """On the 1x corpus: the local engine with 1 worker, then each engine with 1 and 2; the rows, and
    the engines' rows by (engine, workers, scale)."""
    runs = [bench.pipeline(info, "local", 1, "local-1")]
    by_key: dict[tuple, dict] = {}
    for engine in engines:
        for workers in (1, 2):
            row = bench.pipeline(info, engine, workers, f"{engine}-{workers}")
            runs.append(row)
            by_key[(engine, workers, 1)] = row
    return runs, by_key


def headline_engine(engines: list[str]) -> str:
    """The engine a local run uses when it names none (the CLI's default), if it is measured."""
    from pipelines.core.config import EngineOptions

    default = EngineOptions().overridden().engine
    return default if default in engines else engines[0]


def scaled(bench: Bench, info: dict, hours: float, scale: int) -> dict:
    """The corpus ``scale`` times the 1x one (hard links under new keys), made once under the work folder."""
    return corpora.scaled_corpus(info, os.path.join(bench.work, f"corpus-{hours:g}h-x{scale}"), scale)


def scaling_runs(
    bench: Bench, info: dict, hours: float, engines: list[str], head: str, scales: list[int], by_key: dict, codec: dict,
) -> list[dict]:
    """2 workers at every size; 1 worker at the second size (the 2-worker scaling with start-up
    amortized) and, for the headline engine, at the largest too, where its CPU efficiency is taken."""
    scaling = []
    second = scales[1] if len(scales) > 1 else None
    for engine in engines:
        for scale in scales:
            if (engine, 2, scale) not in by_key:
                by_key[(engine, 2, scale)] = bench.pipeline(scaled(bench, info, hours, scale), engine, 2, f"{engine}-2-x{scale}")
            scaling.append({**by_key[(engine, 2, scale)], "scale": f"{scale}x"})
        one_worker = [second] + ([scales[-1]] if engine == head and scales[-1] != second else []) if second else []
        for scale in one_worker:
            by_key[(engine, 1, scale)] = bench.pipeline(scaled(bench, info, hours, scale), engine, 1, f"{engine}-1-x{scale}")
            scaling.append({**by_key[(engine, 1, scale)], "scale": f"{scale}x"})
    for row in scaling:
        efficiency(row, codec)
    return scaling


def lhotse_side(
    bench: Bench, info: dict, hours: float, second: int | None, runs: list[dict], by_key: dict, codec: dict,
) -> tuple[list[dict], str]:
    """lhotse with 1 and 2 jobs on the 1x corpus (appended to ``runs`` too) and with 2 at the second
    size; its rows, and the versions in its venv."""
    lhotse_runs = []
    for jobs in (1, 2):
        row = bench.lhotse(info, jobs, f"lhotse-{jobs}")
        efficiency(row, codec)
        by_key[("lhotse", jobs, 1)] = row
        lhotse_runs.append({**row, "scale": "1x"})
        runs.append(row)
    if second:
        row = bench.lhotse(scaled(bench, info, hours, second), 2, f"lhotse-2-x{second}")
        efficiency(row, codec)
        by_key[("lhotse", 2, second)] = row
        lhotse_runs.append({**row, "scale": f"{second}x"})
    lhotse_env = subprocess.run(
        [bench.lhotse_python(), "-c", "import lhotse, torch, scipy; print(f'lhotse {lhotse.__version__}, torch {torch.__version__}, "
         "scipy {scipy.__version__}, no torchaudio (scipy resample_poly)')"],
        capture_output=True, text=True,
    ).stdout.strip()
    return lhotse_runs, lhotse_env


def repeated(args, argv: list[str]) -> int:
    """``--repeat N``: N whole measurements (the corpora are built once), then their summary."""
    from bench import repeats

    runs = []
    for number in range(1, args.repeat + 1):
        folder = os.path.join(args.out, f"run-{number}")
        log(f"measurement {number} of {args.repeat} -> {folder}")
        main([*argv, "--out", folder, "--repeat", "1"])  # later flags win: this run's folder, once
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as handle:
            runs.append(json.load(handle))
    chosen = repeats.median_run(runs)
    for name in ("results.json", "results.md"):  # the required figures, from a real run: the median one
        shutil.copyfile(os.path.join(args.out, f"run-{chosen + 1}", name), os.path.join(args.out, name))
    summary = repeats.summarize(runs)
    summary["results_from"] = f"run-{chosen + 1}"
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    text = repeats.summary_markdown(summary, f"run-{chosen + 1}")
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
