"""``AudioReader``: a set of a finished run as training rows (key, 16 kHz waveform, prompt, target).

One row per task view (``rows="view"``) or per sample (``rows="sample"``: one of its views, chosen
anew each epoch from the seed and the key). Each rank reads only the shards ``partition`` deals it,
each dataloader worker only its share of those; rows pass a seeded shuffle buffer (raw FLAC bytes,
decoded only when the row is yielded) and are reshuffled every epoch. ``start`` resumes an epoch
after the rows a rank already consumed, without decoding them. ``mel_bins`` adds Whisper's log-mel
features (``features.log_mel``). A ``torch.utils.data.DataLoader`` takes ``reader.torch_dataset()``;
the reader itself never imports torch.
"""
from __future__ import annotations

import io
import random
import sys
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soundfile as sf

from pipelines.reader.features import log_mel
from pipelines.reader.partition import WorkerPlan, epoch_plan, rows_consumed
from pipelines.reader.shards import RawSample, RunError, iter_samples, open_run

ROWS = ("view", "sample")


@dataclass(frozen=True)
class Example:
    key: str
    task: str
    prompt: str
    target: str
    waveform: np.ndarray  # float32 in [-1, 1], 16 kHz mono
    features: np.ndarray | None  # (mel_bins, frames) log-mel, when asked for
    meta: dict  # the sample's JSON: dataset, split, duration, every view under "tasks", ...


def _worker() -> tuple[int, int]:
    """(worker id, workers) inside a torch DataLoader worker, else (0, 1); never imports torch itself."""
    torch = sys.modules.get("torch")
    info = torch.utils.data.get_worker_info() if torch is not None else None
    return (info.id, info.num_workers) if info is not None else (0, 1)


class AudioReader:
    """Rows of the set ``group`` (``train``, ``eval/NAME/SPLIT``) of the run in ``out`` for one rank."""

    def __init__(
        self, out: str, group: str = "train", *, rank: int = 0, world_size: int = 1, seed: int = 0, epoch: int = 0,
        rows: str = "view", equal: bool | None = None, shuffle: int = 1000, start: int = 0, batch_size: int = 1,
        mel_bins: int | None = None,
    ):
        if rows not in ROWS:
            raise ValueError(f"rows must be one of {ROWS}, not {rows!r}")
        self.out, self.group, self.rows = out, group, rows
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, epoch
        self.equal = group == "train" if equal is None else equal
        self.shuffle, self.start, self.batch_size, self.mel_bins = shuffle, start, batch_size, mel_bins
        with open_run(out) as run:
            entries = run.set_shards(group)
            stats = run.shard_stats() if rows == "view" else {}
        if rows == "view":
            missing = [e.path for e in entries if e.samples and e.path not in stats]
            if missing:
                raise RunError(f"{out}: stats.json does not count the views of {missing[0]}; read it with rows='sample'")
            self.shards = [(e, sum(stats.get(e.path, {}).get("views_by_task", {}).values())) for e in entries]
        else:
            self.shards = [(e, e.samples) for e in entries]

    def set_epoch(self, epoch: int) -> None:
        """Start another epoch (a new deal and order); a resumed epoch's ``start`` applies only to it."""
        if epoch != self.epoch:
            self.epoch, self.start = epoch, 0

    def plan(self, num_workers: int = 1) -> list[WorkerPlan]:
        return epoch_plan(
            self.shards, rank=self.rank, world_size=self.world_size, num_workers=num_workers, seed=self.seed,
            epoch=self.epoch, equal=self.equal,
        )

    def __len__(self) -> int:
        """Rows this rank yields in the current epoch (every rank the same with ``equal``)."""
        return sum(worker.quota for worker in self.plan())

    def _rows(self, sample: RawSample) -> Iterator[tuple[RawSample, dict]]:
        views = sample.meta["tasks"]
        if self.rows == "view":
            for view in views:
                yield sample, view
        else:
            yield sample, views[zlib.crc32(f"{self.seed}/{self.epoch}/{sample.key}".encode()) % len(views)]

    def _stream(self, plan: WorkerPlan, run) -> Iterator[tuple[RawSample, dict]]:
        for entry, _ in plan.shards:
            with run.local(entry) as path:
                for sample in iter_samples(path):
                    yield from self._rows(sample)

    def _shuffled(self, rows: Iterator, seed: str) -> Iterator:
        if self.shuffle <= 1:
            yield from rows
            return
        rng, buffer = random.Random(seed), []
        for row in rows:
            if len(buffer) < self.shuffle:
                buffer.append(row)
                continue
            slot = rng.randrange(len(buffer))
            yield buffer[slot]
            buffer[slot] = row
        rng.shuffle(buffer)
        yield from buffer

    def example(self, sample: RawSample, view: dict) -> Example:
        waveform, rate = sf.read(io.BytesIO(sample.flac), dtype="float32")
        features = log_mel(waveform, self.mel_bins) if self.mel_bins else None
        return Example(sample.key, view["task"], view["prompt"], view["target"], waveform, features, sample.meta)

    def __iter__(self) -> Iterator[Example]:
        worker, workers = _worker()
        plans = self.plan(workers)
        skip = rows_consumed([p.quota for p in plans], self.start, self.batch_size)[worker]
        plan = plans[worker]
        with open_run(self.out) as run:
            rows = self._shuffled(self._stream(plan, run), f"{self.seed}/{self.epoch}/{self.rank}/{worker}")
            for count, (sample, view) in enumerate(rows):
                if count >= plan.quota:
                    break
                if count >= skip:
                    yield self.example(sample, view)

    def torch_dataset(self):
        """This reader as a ``torch.utils.data.IterableDataset`` (imports torch) for a DataLoader."""
        return _torch_dataset_class()(self)


_TORCH_DATASET = None


def _torch_dataset_class():
    global _TORCH_DATASET
    if _TORCH_DATASET is None:
        from torch.utils.data import IterableDataset

        class ReaderDataset(IterableDataset):
            def __init__(self, reader: AudioReader):
                self.reader = reader

            def __iter__(self):
                return iter(self.reader)

            def __len__(self):
                return len(self.reader)

        _TORCH_DATASET = ReaderDataset
    return _TORCH_DATASET
