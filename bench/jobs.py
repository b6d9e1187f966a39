"""What the measured subprocesses run (``run.py --_codec-loop`` and ``--_ingest``): the codec bound's
loop and the ingest passes, each printing its figures as one JSON line; and the byte-compiling of
the project before the first run.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time

from bench.env import ROOT


#: the transcript the loop's speaking rate is measured with (a sentence of a LibriSpeech clip's length)
MEASURED_TEXT = "he hoped there would be stew for dinner turnips and carrots and bruised potatoes"


def codec_loop(files_json: str, tar_path: str, passes: int) -> None:
    """The codec bound: decode -> mono -> 16 kHz -> FLAC -> tar, nothing else. Prints JSON.

    Beside it, timed apart and not in the bound (``measures_cpu_s``): what the audio stage also
    computes on every clip it encodes, whatever the engine, its quality metrics and the hash of its
    PCM. Bound plus measures is the *work bound*: a run's CPU beyond it is the pipeline's own."""
    from pipelines.core import audio
    from pipelines.prepare import quality

    with open(files_json, encoding="utf-8") as handle:
        files = json.load(handle)
    for path in {os.path.splitext(p)[1]: p for p in reversed(files)}.values():  # warm-up: each decoder once, untimed
        clip = audio.load(path)
        audio.encode_flac(clip)
        quality.measure(clip.samples, speech=True, text=MEASURED_TEXT)  # and the WADA table, made once per process
    best = None
    for _ in range(passes):
        formats: dict[str, dict] = {}
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with open(tar_path, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in files:
                c = time.process_time()
                clip = audio.load(path)
                flac = audio.encode_flac(clip)
                info = tarfile.TarInfo(os.path.basename(path) + ".flac")
                info.size, info.mtime = len(flac), 0
                tar.addfile(info, io.BytesIO(flac))
                m = time.process_time()
                quality.measure(clip.samples, speech=True, text=MEASURED_TEXT)
                audio.pcm_sha256(clip)
                measured = time.process_time() - m
                ext = os.path.splitext(path)[1][1:]
                entry = formats.setdefault(ext, {"files": 0, "seconds": 0.0, "cpu_s": 0.0, "measures_cpu_s": 0.0})
                entry["files"] += 1
                entry["seconds"] += clip.seconds
                entry["cpu_s"] += m - c
                entry["measures_cpu_s"] += measured
        measures = sum(f["measures_cpu_s"] for f in formats.values())
        result = {
            "cpu_s": time.process_time() - cpu0 - measures,
            "measures_cpu_s": measures,
            "wall_s": time.perf_counter() - wall0 - measures,  # the measures run on one core: their CPU is their wall time
            "seconds": sum(f["seconds"] for f in formats.values()),
            "bytes": os.path.getsize(tar_path),
            "formats": formats,
        }
        if best is None or result["cpu_s"] < best["cpu_s"]:
            best = result
    print(json.dumps(best))


def compiled_as_installed() -> None:
    """Byte-compile the project's modules, as an install from a wheel does (and lhotse's install in its
    venv did): with PYTHONDONTWRITEBYTECODE set (as on the development VM) an editable install would
    otherwise compile every module from source in every process of every run (bench/README.md)."""
    import compileall

    for package in ("pipelines", "schemas", "tag_builder"):
        compileall.compile_dir(os.path.join(ROOT, package), quiet=1)


#: passes of the ingest measurement (the fastest counts)
INGEST_PASSES = 3


def ingest_job(schema_path: str, root: str, out: str, passes: int) -> None:
    """Ingest speed: a metadata-only corpus (durations in a column) into its Parquet manifest, ``passes``
    times into fresh folders; prints the fastest pass by CPU time (like the codec bound) and every pass."""
    from pipelines.core.config import DatasetSpec
    from pipelines.ingest.manifest import ingest_dataset

    import pyarrow as pa

    spec = DatasetSpec(name="table_durations", schema=schema_path, root=root)
    pa.array([""])  # pyarrow imports pandas on its first conversion, once per process: an import, not ingest
    results = []
    for number in range(passes):
        folder = os.path.join(out, f"pass-{number}")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        counts = ingest_dataset(spec, folder, probe_durations=False)  # listed, its tasks in this process, merged
        results.append({
            "records": counts["records"], "drops": counts["drops"], "unknown_seconds": counts["unknown_seconds"],
            "cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
        })
        shutil.rmtree(folder)
    best = min(results, key=lambda r: r["cpu_s"])
    print(json.dumps({**best, "passes_cpu_s": [r["cpu_s"] for r in results]}))
