"""lhotse's side of the comparison; runs in bench/work/lhotse-venv (``bench/run.py`` creates it).

    python bench/lhotse_job.py CORPUS_JSON OUT_DIR JOBS SHARD_SIZE

The same work as ``audioprep run`` over the same three LibriSpeech-layout corpora, the lhotse way:
1. manifests: ``lhotse.recipes.prepare_librispeech`` for the FLAC corpus (the recipe reads every
   audio header through ``Recording.from_file``); for the WAV and MP3 corpora, the recipe's own
   ``parse_utterance`` steps with the other extension (the recipe hard-codes ``.flac``), in the
   same thread pool. Manifests are written to disk, as the recipe does.
2. cuts: one mono cut per recording (channel 0: lhotse picks a channel rather than downmixing),
   resampled to 16 kHz (``cut.resample``; without torchaudio lhotse uses scipy ``resample_poly``),
   all cuts shuffled once.
3. ``CutSet.to_shar(fields={"recording": "flac"}, shard_size=SHARD_SIZE, num_jobs=JOBS)``: decode,
   resample, encode FLAC, write ``recording.NNNNNN.tar`` + ``cuts.NNNNNN.jsonl.gz`` shards (what
   ``lhotse shar export -a flac`` does).
Prints one JSON line with the counts and the time of each step.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _prepare_other(root: Path, ext: str, jobs: int, out: Path):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.qa import fix_manifests, validate_recordings_and_supervisions

    def parse(part_path: Path, line: str):
        recording_id, text = line.strip().split(maxsplit=1)
        audio_path = part_path / Path(recording_id.replace("-", "/")).parent / f"{recording_id}{ext}"
        if not audio_path.is_file():
            return None
        recording = Recording.from_file(audio_path, recording_id=recording_id)
        segment = SupervisionSegment(
            id=recording_id, recording_id=recording_id, start=0.0, duration=recording.duration, channel=0,
            language="English", speaker=re.sub(r"-.*", r"", recording.id), text=text.strip(),
        )
        return recording, segment

    manifests = {}
    with ThreadPoolExecutor(jobs) as ex:
        for part_path in sorted(p for p in root.iterdir() if p.is_dir()):
            futures = []
            for trans_path in part_path.rglob("*.trans.txt"):
                with open(trans_path) as handle:
                    futures += [ex.submit(parse, part_path, line) for line in handle if line.strip()]
            results = [f.result() for f in futures]
            results = [r for r in results if r is not None]
            recordings = RecordingSet.from_recordings(r for r, _ in results)
            supervisions = SupervisionSet.from_segments(s for _, s in results)
            recordings, supervisions = fix_manifests(recordings, supervisions)
            validate_recordings_and_supervisions(recordings, supervisions)
            supervisions.to_file(out / f"supervisions_{part_path.name}.jsonl.gz")
            recordings.to_file(out / f"recordings_{part_path.name}.jsonl.gz")
            manifests[part_path.name] = {"recordings": recordings, "supervisions": supervisions}
    return manifests


def main() -> None:
    logging.disable(logging.WARNING)
    corpus_json, out_dir, jobs, shard_size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    times = {}
    t0 = time.perf_counter()
    import lhotse
    from lhotse import CutSet, MonoCut
    from lhotse.recipes import prepare_librispeech

    times["import_s"] = time.perf_counter() - t0
    corpus = json.loads(Path(corpus_json).read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    cuts = []
    for fmt, meta in corpus["formats"].items():
        manifest_dir = out_dir / "manifests" / fmt
        manifest_dir.mkdir(parents=True, exist_ok=True)
        if fmt == "flac":
            manifests = prepare_librispeech(meta["root"], output_dir=manifest_dir, num_jobs=jobs)
        else:
            manifests = _prepare_other(Path(meta["root"]), "." + fmt, jobs, manifest_dir)
        for part in manifests.values():
            supervisions = {s.recording_id: s for s in part["supervisions"]}
            for recording in part["recordings"]:
                supervision = supervisions[recording.id]
                cut = MonoCut(
                    id=f"{fmt}-{recording.id}", start=0.0, duration=recording.duration, channel=0,
                    recording=recording, supervisions=[supervision],
                )
                cuts.append(cut.resample(16000))
    times["prepare_s"] = time.perf_counter() - t1
    random.Random(0).shuffle(cuts)
    cutset = CutSet.from_cuts(cuts)
    t2 = time.perf_counter()
    (out_dir / "shar").mkdir(parents=True, exist_ok=True)
    written = cutset.to_shar(out_dir / "shar", fields={"recording": "flac"}, shard_size=shard_size, num_jobs=jobs)
    times["export_s"] = time.perf_counter() - t2
    shards = written["recording"]
    size = sum(os.path.getsize(p) for p in shards)
    print(json.dumps({
        "lhotse": lhotse.__version__, "cuts": len(cuts), "shards": len(shards), "bytes": size,
        "seconds": sum(c.duration for c in cuts), **{k: round(v, 3) for k, v in times.items()},
    }))


if __name__ == "__main__":
    main()
