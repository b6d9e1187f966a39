"""Audio quality: each metric against signals with a known answer, the filters as rules of a run
config, and a filtered run whose quarantine, shards, statistics and report say what was refused.

Speech is real synthesized speech (espeak-ng), mixed with Gaussian noise at a known SNR.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.core.audio import to_int16
from pipelines.core.run_config import RunConfigError, load_run_config
from pipelines.demo import write_librispeech
from pipelines.prepare import quality
from pipelines.prepare.filters import describe, rules_for

from conftest import audioprep, published

RATE = 16000
needs_espeak = pytest.mark.skipif(
    subprocess.run(["which", "espeak-ng"], capture_output=True).returncode != 0,
    reason="espeak-ng is not installed (`make test` installs it as root with apt-get)",
)


@lru_cache(maxsize=1)
def _speech() -> np.ndarray:
    """Two sentences of espeak-ng speech at 16 kHz, float32, peak 0.5."""
    text = "the birch canoe slid on the smooth planks. glue the sheet to the dark blue background"
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    samples = soxr.resample(samples, rate, RATE)
    return (samples / np.abs(samples).max() * 0.5).astype(np.float32)


def _sine(amplitude: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.clip(amplitude * np.sin(2 * np.pi * 440 * t), -1, 1).astype(np.float32)


def test_a_clipped_sine_measures_its_share_of_clipped_samples():
    clipped = quality.measure(to_int16(_sine(2.0)), speech=False)
    # |2 sin| >= 0.999 for all but 2/pi * arcsin(0.999 / 2) of the time
    assert clipped["clipping"] == pytest.approx(1 - 2 / np.pi * np.arcsin(0.999 / 2), abs=0.005)
    assert clipped["peak"] == 1.0
    clean = quality.measure(to_int16(_sine(0.5)), speech=False)
    assert (clean["clipping"], clean["peak"], clean["rms_dbfs"]) == (0.0, 0.5, pytest.approx(-9.0, abs=0.1))
    assert clean["dc_offset"] == 0.0
    shifted = quality.measure(to_int16(_sine(0.5) + 0.1), speech=False)
    assert shifted["dc_offset"] == pytest.approx(0.1, abs=0.001)


def test_metrics_of_speech_only_where_there_is_speech():
    measured = quality.measure(to_int16(_sine(0.5)), speech=False, text="a caption is not a transcript")
    assert measured["snr_db"] is None and measured["chars_per_second"] is None and measured["words_per_second"] is None
    assert list(measured) == list(quality.DECIMALS)  # every metric, always in the same order
    silent = quality.measure(np.zeros(RATE, np.int16), speech=True, text="hello")
    assert silent["rms_dbfs"] == quality.LEVEL_FLOOR_DBFS and silent["silence"] == 1.0
    assert silent["snr_db"] is None and silent["bandwidth_hz"] is None


@needs_espeak
@pytest.mark.parametrize("snr", [0, 10, 20])
def test_wada_snr_of_speech_in_noise_is_within_3_db(snr):
    speech = _speech()
    noise = np.random.default_rng(snr).standard_normal(len(speech)).astype(np.float32)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (snr / 10))
    mixed = speech + noise
    mixed = mixed / np.abs(mixed).max() * 0.7
    assert abs(quality.measure(to_int16(mixed), speech=True)["snr_db"] - snr) <= 3


@needs_espeak
def test_8_khz_audio_upsampled_to_16_khz_is_found_by_its_bandwidth():
    speech = _speech() + 0.005 * np.random.default_rng(1).standard_normal(len(_speech())).astype(np.float32)
    narrow = soxr.resample(soxr.resample(speech, RATE, 8000), 8000, RATE)
    assert quality.measure(to_int16(narrow), speech=True)["bandwidth_hz"] <= 4000
    assert quality.measure(to_int16(speech), speech=True)["bandwidth_hz"] >= 7500


@needs_espeak
def test_speech_padded_with_known_silence():
    speech = _speech()
    alone = quality.measure(to_int16(speech), speech=True)["silence"]
    padded = np.concatenate([np.zeros(2 * RATE, np.float32), speech, np.zeros(RATE, np.float32)])
    expected = (alone * len(speech) + 3 * RATE) / len(padded)
    assert quality.measure(to_int16(padded), speech=True)["silence"] == pytest.approx(expected, abs=0.01)


@needs_espeak
def test_a_transcript_ten_times_too_long_reads_ten_times_as_fast():
    text = "the birch canoe slid on the smooth planks glue the sheet to the dark blue background"
    right = quality.measure(to_int16(_speech()), speech=True, text=text)
    wrong = quality.measure(to_int16(_speech()), speech=True, text=" ".join([text] * 10))
    seconds = len(_speech()) / RATE
    assert right["chars_per_second"] == round(len(text.replace(" ", "")) / seconds, 2)
    assert right["words_per_second"] == round(16 / seconds, 2)
    assert wrong["chars_per_second"] == round(10 * len(text.replace(" ", "")) / seconds, 2)
    assert wrong["chars_per_second"] > 25 >= right["chars_per_second"]


def _reference(samples: np.ndarray, speech: bool, text: str | None = None) -> dict:
    """docs/quality.md's definitions computed the plain way: float64, whole arrays, no blocks, no
    shortcuts (the bandwidth and the WADA model's table are quality's own: nothing in them is fast-pathed)."""
    x = samples.astype(np.float64) / 32768
    n = len(x)
    frame = min(320, n)
    framed = x[: n // frame * frame].reshape(-1, frame)
    levels = 10 * np.log10(np.maximum((framed**2).mean(axis=1), 1e-12))
    silent = levels < max(-60.0, levels.max() - 40)
    power = float(np.mean(x**2))
    values = {
        "rms_dbfs": max(-120.0, 10 * np.log10(power)) if power > 0 else -120.0,
        "peak": float(np.abs(x).max()), "clipping": float(np.mean(np.abs(x) >= 0.999)), "dc_offset": float(x.mean()),
        "silence": float(silent.mean()), "snr_db": None,
        "bandwidth_hz": quality.bandwidth(samples) if np.abs(x).max() > 0 else None,
        "chars_per_second": None, "words_per_second": None,
    }
    if speech:
        magnitude = np.maximum(np.abs(framed[~silent]), 1e-10)
        if magnitude.size and magnitude.mean() > 1e-9:
            statistic = np.log(magnitude.mean()) - np.log(magnitude).mean()
            values["snr_db"] = float(np.interp(statistic, quality._wada_table()[1], quality._wada_table()[0]))
        if text:
            values["chars_per_second"] = len([c for c in text if not c.isspace()]) / (n / RATE)
            values["words_per_second"] = len(text.split()) / (n / RATE)
    return {k: None if v is None else round(float(v), quality.DECIMALS[k]) for k, v in values.items()}


def _clip(kind: str, length: int, seed: int) -> np.ndarray:
    """int16 clips of several kinds: noise at a random level, Gamma 'speech' in noise with stretches of
    digital silence, a DC offset, silence, full scale (both extremes), uniform over the whole int16 range."""
    rng = np.random.default_rng(seed)
    if kind == "silence":
        return np.zeros(length, np.int16)
    if kind == "full_scale":
        return np.where(rng.random(length) < 0.5, -32768, 32767).astype(np.int16)
    if kind == "uniform":
        return rng.integers(-32768, 32768, length, dtype=np.int16)
    noise = rng.standard_normal(length) * 10 ** rng.uniform(-5, -0.5)
    if kind == "speech":  # the WADA model's speech at an SNR of -10 to 40 dB, at a level of -60 to -6 dB
        speech = rng.gamma(0.4, 1.0, length) * rng.choice((-1.0, 1.0), length)
        noise = (speech + rng.standard_normal(length) * np.sqrt(0.56) * 10 ** (-rng.uniform(-10, 40) / 20)) * 10 ** rng.uniform(-3, -0.3) / 4
        gap = rng.integers(0, length + 1, 2)
        noise[min(gap) : max(gap)] = 0
    elif kind == "dc":
        noise += rng.uniform(-0.3, 0.3)
    return to_int16(np.clip(noise, -1, 1).astype(np.float32))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["noise", "speech", "dc", "silence", "full_scale", "uniform"]),
       length=st.one_of(st.sampled_from([1, 2, 319, 320, 321, quality.CHUNK, quality.CHUNK + 1]), st.integers(1, 3 * quality.CHUNK)),
       seed=st.integers(0, 2**32 - 1), speech=st.booleans())
@example(kind="silence", length=1, seed=0, speech=True)
@example(kind="full_scale", length=1, seed=0, speech=True)
@example(kind="speech", length=16_000 * 12 + 7, seed=3, speech=True)
def test_the_fast_metrics_equal_a_plain_computation_of_their_definitions(kind, length, seed, speech):
    samples = _clip(kind, length, seed)
    text = "the birch canoe slid on the smooth planks" if speech else None
    assert quality.measure(samples, speech=speech, text=text) == _reference(samples, speech, text)


def test_the_wada_table_equals_its_plain_computation():
    """The model's table (computed in place, in one buffer) is, bit for bit, the statistic of each level's
    mixture computed with fresh arrays."""
    rng = np.random.default_rng(20080922)
    speech = rng.gamma(quality.WADA_SHAPE, 1.0, 200_000) * rng.choice((-1.0, 1.0), 200_000)
    noise = rng.standard_normal(200_000)
    levels, table = quality._wada_table()
    plain = []
    for level in levels:
        mixed = np.abs(speech + noise * np.sqrt(quality.WADA_SHAPE * (quality.WADA_SHAPE + 1) / 10 ** (level / 10)))
        plain.append(np.log(mixed.mean()) - np.log(np.maximum(mixed, 1e-10)).mean())
    assert list(levels) == list(range(-20, 101))
    assert np.array_equal(table, np.maximum.accumulate(plain))


def test_a_clip_of_no_samples_is_refused():
    with pytest.raises(ValueError, match="no samples"):
        quality.measure(np.zeros(0, np.int16), speech=True)


def _write_config(tmp_path: Path, filters: str, datasets: str = "") -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"out: out/\ndatasets:\n  - name: librispeech\n    root: corpus/\n{datasets}filters:\n{filters}")
    return path


def test_filters_resolve_by_corpus_and_language_and_spare_evaluation_sets(tmp_path):
    path = _write_config(
        tmp_path,
        "  snr_db: {min: 5}\n  chars_per_second: {min: 2, max: 25}\n  languages:\n    zh: {chars_per_second: {max: 10}}\n",
        "    filters: {clipping: {max: 0.01, evaluation: true}, languages: {en: {chars_per_second: {max: 30}}}}\n",
    )
    config, _ = load_run_config(path)
    en = rules_for(config.filters, "librispeech", "en")
    assert {m: (r.min, r.max, r.evaluation) for m, r in en.items()} == {
        "clipping": (None, 0.01, True), "snr_db": (5.0, None, False), "chars_per_second": (None, 30.0, False),
    }
    assert en["chars_per_second"].scope == "datasets.librispeech.filters.languages.en"
    zh = rules_for(config.filters, "other", "zh")
    assert (zh["chars_per_second"].min, zh["chars_per_second"].max) == (None, 10.0)
    assert "clipping max 0.01 [datasets.librispeech.filters]" in describe(config.filters)
    assert "snr_db min 5 (training data only) [filters]" in describe(config.filters)


@pytest.mark.parametrize("filters, message", [
    ("  snr: {min: 5}\n", "snr"),  # a misspelled metric
    ("  snr_db: {}\n", "a filter rule needs min, max or both"),
    ("  clipping: {min: 0.5, max: 0.1}\n", "min (0.5) is above its max (0.1)"),
])
def test_a_wrong_filter_is_an_error_naming_the_file(tmp_path, filters, message):
    with pytest.raises(RunConfigError) as error:
        load_run_config(_write_config(tmp_path, filters))
    assert str(tmp_path / "run.yaml") in str(error.value) and message in str(error.value)


def _corpus(root: Path) -> dict[str, str]:
    """A LibriSpeech tree with one clipped clip and one transcript ten times too long (training data)."""
    write_librispeech(str(root), {"train-clean-5": 8, "dev-clean-2": 4}, missing_audio=False)
    train = sorted((root / "train-clean-5").rglob("*.flac"))
    clipped, long_text = train[0], train[1]
    sf.write(clipped, _sine(2.0, 3.0), RATE, subtype="PCM_16")
    trans = long_text.parent / f"{long_text.parent.parent.name}-{long_text.parent.name}.trans.txt"
    lines = trans.read_text().splitlines()
    lines = [f"{line.split(' ', 1)[0]} {' '.join([line.split(' ', 1)[1]] * 10)}" if line.startswith(long_text.stem) else line
             for line in lines]
    trans.write_text("\n".join(lines))
    dev = sorted((root / "dev-clean-2").rglob("*.flac"))[0]
    sf.write(dev, _sine(2.0, 3.0), RATE, subtype="PCM_16")  # clipped too, but evaluation data: kept
    return {"clipped": f"librispeech-{clipped.stem}", "long": f"librispeech-{long_text.stem}",
            "dev": f"librispeech-{dev.stem}"}


FILTERS = "  clipping: {max: 0.01}\n  chars_per_second: {min: 2, max: 25}\n"


def _samples(out: Path) -> dict[str, dict]:
    found = {}
    for shard in sorted(out.rglob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    found[member.name[:-5]] = json.loads(tar.extractfile(member).read())
    return found


def _filtered_run(tmp_path: Path, engine: str, *extra: str) -> tuple[Path, dict[str, str]]:
    keys = _corpus(tmp_path / "corpus")
    config = _write_config(tmp_path, FILTERS)
    plan = audioprep("run", str(config), "--plan")
    said = plan.stdout + plan.stderr
    assert "clipping max 0.01 (training data only) [filters]" in said, said
    audioprep("run", str(config), "--engine", engine, *extra)
    return tmp_path / "out", keys


def test_a_filtered_run_quarantines_by_rule_and_reports_hours_before_and_after(tmp_path):
    out, keys = _filtered_run(tmp_path, "local")
    rows = {row["key"]: row for row in map(json.loads, (out / "quarantine.jsonl").read_text().splitlines())}
    assert rows[keys["clipped"]]["reason"] == "quality_clipping" and rows[keys["clipped"]]["stage"] == "quality"
    assert "clipping 0.66" in rows[keys["clipped"]]["detail"] and "above the maximum 0.01" in rows[keys["clipped"]]["detail"]
    assert rows[keys["clipped"]]["seconds"] == 3.0
    assert rows[keys["long"]]["reason"] == "quality_chars_per_second" and "above the maximum 25" in rows[keys["long"]]["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["balanced"] and summary["quarantined"] == 2
    samples = _samples(out)
    assert keys["clipped"] not in samples and keys["long"] not in samples
    assert samples[keys["dev"]]["quality"]["clipping"] > 0.01  # evaluation sets are not filtered by default
    assert all(set(s["quality"]) == set(quality.DECIMALS) for s in samples.values())
    audioprep("stats", str(out), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    filtered = report["quality_filters"]["librispeech"]
    assert filtered["filtered_samples"] == 2 and filtered["by_reason"] == {"quality_chars_per_second": 1, "quality_clipping": 1}
    assert filtered["seconds_before"] == pytest.approx(filtered["seconds_after"] + filtered["filtered_seconds"])
    assert filtered["seconds_after"] == pytest.approx(report["corpora"]["librispeech"]["seconds"])
    histogram = report["quality"]["librispeech"]["clipping"]
    assert sum(histogram.values()) == len(samples) and histogram[">=0.1"] == 1  # the clipped evaluation clip
    terminal = audioprep("stats", str(out), env={"COLUMNS": "200"}).stdout
    assert "Quality" in terminal and "quality_clipping" in terminal


@pytest.mark.slow
def test_a_filtered_run_is_byte_identical_on_beam_and_ray(tmp_path):
    beam, _ = _filtered_run(tmp_path / "beam", "beam", "--workers", "2")
    ray, _ = _filtered_run(tmp_path / "ray", "ray", "--workers", "2")
    beam_files, ray_files = published(beam), published(ray)
    assert beam_files.keys() == ray_files.keys()
    assert [p for p in beam_files if beam_files[p] != ray_files[p]] == []
    assert b"quality_clipping" in beam_files["quarantine.jsonl"]


@pytest.mark.slow
def test_the_quality_bench_measures_runs_with_and_without_the_metrics(tmp_path):
    """bench/quality.py --run at a tiny size: both figures written, each run checked to have measured
    (or not) from its statistics. No speed is asserted (bench/README.md has the measurement)."""
    results = tmp_path / "quality.json"
    project = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(project / "bench" / "quality.py"), "--hours", "0.01", "--passes", "1", "--run", "2",
         "--work", str(tmp_path / "corpus"), "--results", str(results)],
        cwd=project, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = json.loads(results.read_text())
    run = written["runs"]["local"]
    assert run["passes"] == 2 and len(run["passes_cpu_s"]["with"]) == len(run["pair_ratios"]) == 2
    assert run["cpu_s_with"] == min(run["passes_cpu_s"]["with"]) and run["cpu_s_without"] == min(run["passes_cpu_s"]["without"])
    assert run["ratio"] == round(run["cpu_s_with"] / run["cpu_s_without"], 4) and run["audio_s"] > 0
    assert 0 < written["codec_loop"]["formats"]["all"]["share"] < 1
    assert not (tmp_path / "run-out").exists()
