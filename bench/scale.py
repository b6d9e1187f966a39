"""Planning at scale: peak memory and time of `audioprep run --plan` over 1 M and 10 M records.

```
.venv/bin/python bench/scale.py                          # 1 M and 10 M records, results in bench/results/scale.*
.venv/bin/python bench/scale.py --records 100000 --out /tmp/scale   # a quick look
.venv/bin/python bench/scale.py --records 10000000 --merge bench/results/scale.json   # 10 M, beside the 1 M run kept
```

The corpus is metadata only (``bench/schemas/scale_table.yaml``): a CSV of N rows (id, audio path,
duration, transcript), a join file of N rows (the speaker of every id, as corpora ship speaker
tables), and an audio listing of N files (1,000 to a folder, each folder's names hard links to one
empty file: directory entries, no data) that the schema declares with ``audio_files``, so the audio index, the
join's key table and the duplicate check all hold N keys. No audio is decoded: ``--plan`` ingests
and plans, then stops. Each size runs as its own process tree (``bench/measure.py``: wall time, CPU
time and the peak resident memory of the whole tree), with one worker.

Goal (issue 24): peak RSS at 10 M at most 2 GB and at most twice the 1 M figure; time linear.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from measure import become_subreaper, run  # noqa: E402

SCHEMA = os.path.join(BENCH, "schemas", "scale_table.yaml")
PER_FOLDER = 1000
WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "slept", "for", "an", "hour")


def write_corpus(root: str, records: int) -> None:
    """The metadata-only corpus of ``records`` rows (skipped when already complete)."""
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "metadata_train.csv"), "w", encoding="utf-8") as rows, \
            open(os.path.join(root, "speakers.csv"), "w", encoding="utf-8") as speakers:
        rows.write("id,path,duration,text\n")
        speakers.write("id,speaker\n")
        for i in range(records):
            folder = f"{i // PER_FOLDER:05d}"
            name = f"u{i:08d}"
            if i % PER_FOLDER == 0:  # one empty file per folder, hard-linked under every name (a file has at most ~65,000 links)
                os.makedirs(os.path.join(root, "audio", folder), exist_ok=True)
                blank = os.path.join(root, "audio", folder, f"{name}.flac")
                open(blank, "wb").close()
            else:
                os.link(blank, os.path.join(root, "audio", folder, f"{name}.flac"))
            text = " ".join(WORDS[(i >> shift) % len(WORDS)] for shift in range(0, 24, 3))
            rows.write(f"{name},audio/{folder}/{name}.flac,{3 + (i % 1200) / 100:.2f},{text}\n")
            speakers.write(f"{name},spk{i % 5000:04d}\n")
    open(done, "w").close()


def measure(records: int, work: str, out: str) -> dict:
    root = os.path.join(work, f"corpus-{records}")
    started = time.perf_counter()
    write_corpus(root, records)
    written = time.perf_counter() - started
    target = os.path.join(out, f"run-{records}")
    os.makedirs(out, exist_ok=True)
    command = [os.path.join(os.path.dirname(sys.executable), "audioprep"), "run", "--dataset", f"scale:{SCHEMA}={root}", "--out", target,
               "--plan", "--overwrite", "--workers", "1", "--engine", "local"]
    measured = run(command, os.path.join(out, f"plan-{records}.log")).check()
    return {
        "records": records,
        "corpus_written_s": round(written, 1),
        "wall_s": round(measured.wall_s, 1),
        "cpu_s": round(measured.cpu_s, 1),
        "peak_rss_mb": round(measured.peak_rss_mb, 1),
        "records_per_cpu_s": round(records / measured.cpu_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", default="1000000,10000000", help="corpus sizes, comma-separated")
    parser.add_argument("--work", default=os.path.join(BENCH, "work", "scale"), help="where the corpora are written (cached)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"), help="scale.json and scale.md go here")
    parser.add_argument("--merge", default="", help="scale.json files of earlier measurements whose runs of other sizes join "
                        "these (comma-separated; --records '' measures none)")
    args = parser.parse_args()
    become_subreaper()
    os.makedirs(args.out, exist_ok=True)
    runs = []
    for records in (int(n) for n in args.records.split(",") if n):
        runs.append(measure(records, args.work, os.path.join(args.work, "out")))
        print(json.dumps(runs[-1]), flush=True)
    for path in filter(None, args.merge.split(",")):
        with open(path, encoding="utf-8") as handle:
            runs += [r for r in json.load(handle)["runs"] if r["records"] not in {m["records"] for m in runs}]
    runs.sort(key=lambda r: r["records"])
    smallest, largest = runs[0], runs[-1]
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runs": runs,
        "peak_ratio": round(largest["peak_rss_mb"] / smallest["peak_rss_mb"], 2),
        "time_ratio_per_record": round((largest["cpu_s"] / largest["records"]) / (smallest["cpu_s"] / smallest["records"]), 2),
        "goal": "peak RSS at the largest size <= 2048 MB and <= 2x the smallest; CPU time per record constant",
    }
    # one size alone says nothing about growth
    summary["goal_met"] = largest["peak_rss_mb"] <= 2048 and summary["peak_ratio"] <= 2.0 if len(runs) > 1 else None
    with open(os.path.join(args.out, "scale.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
        handle.write("\n")
    lines = ["| records | wall s | CPU s | peak RSS MB | records per CPU s |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['records']:,} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mb']} | {r['records_per_cpu_s']:,} |" for r in runs]
    lines.append(f"\npeak ratio {summary['peak_ratio']}, CPU per record ratio {summary['time_ratio_per_record']}; goal met: {summary['goal_met']}")
    with open(os.path.join(args.out, "scale.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
