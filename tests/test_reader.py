"""The training reader, the wids shard index and Hugging Face ``datasets`` on a finished demo run."""
from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from pipelines.reader import dataset as reader_dataset
from pipelines.reader.dataset import AudioReader
from pipelines.reader.features import log_mel, mel_filters
from pipelines.reader.partition import rows_consumed
from pipelines.reader.shards import iter_samples


def all_rows(out, group="train"):
    rows = Counter()
    for entry in json.loads((out / "index.json").read_text())["shards"]:
        if entry["group"] == group:
            for sample in iter_samples(str(out / entry["path"])):
                rows.update((sample.key, v["task"], v["target"]) for v in sample.meta["tasks"])
    return rows


def rows_of(examples):
    return Counter((e.key, e.task, e.target) for e in examples)


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_read_disjoint_shards_and_the_same_number_of_rows(local_run, monkeypatch, world_size):
    opened = {}
    real = reader_dataset.iter_samples

    def spy(path):
        opened.setdefault(rank, set()).add(path)
        return real(path)

    monkeypatch.setattr(reader_dataset, "iter_samples", spy)
    everything, seen, counts = all_rows(local_run), Counter(), []
    for rank in range(world_size):
        reader = AudioReader(str(local_run), "train", rank=rank, world_size=world_size, seed=3)
        rows = rows_of(reader)
        counts.append(sum(rows.values()))
        assert counts[-1] == len(reader)
        seen.update(rows)
    assert len(set(counts)) == 1  # every rank the same number of rows (training: equal)
    assert not seen - everything  # nothing invented, nothing twice
    assert all(seen[row] <= everything[row] for row in seen)
    shards = [opened.get(rank, set()) for rank in range(world_size)]
    assert all(not (a & b) for i, a in enumerate(shards) for b in shards[i + 1 :])  # each rank its own shards
    if world_size == 1:
        assert seen == everything


def test_an_evaluation_set_is_read_whole_once_over_ranks(local_run):
    group = "eval/librispeech/dev-clean-2"
    seen = Counter()
    for rank in range(2):
        seen.update(rows_of(AudioReader(str(local_run), group, rank=rank, world_size=2)))
    assert seen == all_rows(local_run, group)


def test_epochs_reshuffle_from_the_seed(local_run):
    def order(seed, epoch):
        return [(e.key, e.task, e.target) for e in AudioReader(str(local_run), seed=seed, epoch=epoch)]

    assert order(5, 0) == order(5, 0)
    assert order(5, 0) != order(5, 1)
    assert sorted(order(5, 0)) == sorted(order(5, 1))


def test_rows_per_sample_give_one_view_of_each_sample(local_run):
    examples = list(AudioReader(str(local_run), rows="sample", seed=1))
    assert sorted(e.key for e in examples) == sorted({key for key, _, _ in all_rows(local_run)})
    for e in examples:
        assert {"task": e.task, "prompt": e.prompt, "target": e.target} in e.meta["tasks"]
        assert e.waveform.dtype == np.float32 and len(e.waveform) == round(e.meta["duration"] * 16000)


def test_a_dataloader_with_workers_resumes_where_it_stopped(local_run):
    torch = pytest.importorskip("torch")

    def loader(start):
        reader = AudioReader(str(local_run), seed=2, start=start, batch_size=3, shuffle=4)
        return torch.utils.data.DataLoader(reader.torch_dataset(), batch_size=3, num_workers=2,
                                           collate_fn=lambda batch: [(e.key, e.task, e.target) for e in batch])

    full = [row for batch in loader(0) for row in batch]
    assert Counter(full) == all_rows(local_run)
    first = []
    for number, batch in enumerate(loader(0)):
        if number == 3:
            break
        first.extend(batch)
    rest = [row for batch in loader(len(first)) for row in batch]
    # every row of the epoch once: none repeated, none lost (the DataLoader starts its turns at worker 0 again)
    assert Counter(first) + Counter(rest) == Counter(full) and not set(first) & set(rest)


def test_more_training_ranks_than_shards_is_refused_with_the_remedy(local_run):
    shards = len(json.loads((local_run / "train" / "shardindex.json").read_text())["shardlist"])
    with pytest.raises(ValueError, match="multiple_of"):
        len(AudioReader(str(local_run), "train", rank=0, world_size=shards + 1))


def test_rows_consumed_follows_the_dataloader_turns():
    assert rows_consumed([5, 2], 0, 2) == [0, 0]
    assert rows_consumed([5, 2], 4, 2) == [2, 2]
    assert rows_consumed([5, 2], 7, 2) == [5, 2]
    with pytest.raises(ValueError, match="inside a batch"):
        rows_consumed([5, 2], 3, 2)


def test_log_mel_is_whispers():
    librosa = pytest.importorskip("librosa")
    torch = pytest.importorskip("torch")
    for bins in (80, 128):
        assert np.abs(mel_filters(bins) - librosa.filters.mel(sr=16000, n_fft=400, n_mels=bins)).max() < 1e-6
    audio = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    # Whisper's log_mel_spectrogram (openai/whisper audio.py) transcribed with torch
    spectrum = torch.stft(torch.from_numpy(audio), 400, 160, window=torch.hann_window(400), return_complex=True)
    power = spectrum[..., :-1].abs() ** 2
    mel = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)) @ power
    reference = torch.clamp(mel, min=1e-10).log10()
    reference = (torch.maximum(reference, reference.max() - 8.0) + 4.0) / 4.0
    ours = log_mel(audio, 80)
    assert ours.shape == (80, 300) and np.abs(ours - reference.numpy()).max() < 1e-4
    with pytest.raises(ValueError, match="80 or 128"):
        mel_filters(64)


def test_features_come_with_the_rows(local_run):
    example = next(iter(AudioReader(str(local_run), mel_bins=128)))
    assert example.features.shape == (128, len(example.waveform) // 160)


def test_wids_opens_the_shard_index_and_reads_the_ith_sample(local_run, tmp_path, monkeypatch):
    wids = pytest.importorskip("wids")
    monkeypatch.setenv("WIDS_CACHE", str(tmp_path / "cache"))
    index = json.loads((local_run / "train" / "shardindex.json").read_text())
    assert index["__kind__"] == "wids-shard-index-v1" and index["wids_version"] == 1
    assert {"url", "nsamples", "filesize", "sha256"} <= set(index["shardlist"][0])
    ordered = [s for e in index["shardlist"] for s in iter_samples(str(local_run / "train" / e["url"]))]
    dataset = wids.ShardListDataset(str(local_run / "train" / "shardindex.json"), transformations=[])
    assert len(dataset) == len(ordered) == sum(e["nsamples"] for e in index["shardlist"])
    for i in (0, len(ordered) // 2, len(ordered) - 1):
        sample = dataset[i]
        assert sample["__key__"] == ordered[i].key
        assert sample[".flac"].read() == ordered[i].flac
        assert json.loads(sample[".json"].read()) == ordered[i].meta
    for group in ("eval/clotho/evaluation", "eval/cochlscene/Test"):
        assert json.loads((local_run / group / "shardindex.json").read_text())["name"] == group


def test_datasets_load_dataset_reads_the_shards(local_run, tmp_path):
    datasets = pytest.importorskip("datasets")
    files = sorted(str(p) for p in (local_run / "train").glob("*.tar"))
    # datasets' Audio feature encodes through torchcodec (and FFmpeg) even with decode=False: the FLAC
    # column is declared as bytes and decoded with soundfile (docs/exports.md)
    features = datasets.Features({"flac": datasets.Value("binary"), "json": datasets.Json(),
                                  "__key__": datasets.Value("string"), "__url__": datasets.Value("string")})
    loaded = datasets.load_dataset("webdataset", data_files={"train": files}, split="train", features=features,
                                   cache_dir=str(tmp_path))
    assert len(loaded) == sum(1 for f in files for _ in iter_samples(f))
    row = loaded[0]
    samples, rate = sf.read(io.BytesIO(row["flac"]), dtype="float32")
    assert rate == 16000 and samples.ndim == 1
    assert row["json"]["key"] == row["__key__"] and row["json"]["tasks"]
    assert abs(len(samples) / rate - row["json"]["duration"]) < 1e-3
