"""What measuring audio quality costs: the metrics against the codec loop, on the bench corpus's clips.

For every clip of the bench corpus (``bench/corpus.py``: FLAC 16 kHz, WAV 44.1 kHz stereo, MP3 48 kHz
stereo), in one process: the codec loop's work (``audio.load`` then ``audio.encode_flac``, as
``bench/jobs.py`` times it) and, apart, ``quality.measure`` on the decoded clip (as the audio stage
calls it: speech, with the transcript). CPU time of each, best of ``--passes``; the figure is the
metrics' CPU as a share of the codec loop's, overall and per source format (goal: at most 10%).

    .venv/bin/python bench/quality.py                    # 0.25 h corpus under bench/work/quality-corpus
    .venv/bin/python bench/quality.py --hours 1 --passes 3
    .venv/bin/python bench/quality.py --dnsmos 12      # also DNSMOS (the dnsmos extra) on 12 clips, on its own
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import audio_files, build_corpus  # noqa: E402
from pipelines.core import audio  # noqa: E402
from pipelines.prepare import quality  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.25)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--dnsmos", type=int, default=0, help="also time DNSMOS on this many clips")
    parser.add_argument("--work", default=str(Path(__file__).resolve().parent / "work" / "quality-corpus"))
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
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
