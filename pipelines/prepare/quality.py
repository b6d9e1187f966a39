"""Audio quality of a clip, measured on the 16 kHz waveform the audio stage has just decoded.

``measure`` gives the metrics of one clip (docs/quality.md defines each): level (``rms_dbfs``),
``peak``, ``clipping``, ``dc_offset``, ``silence`` (energy based, so no installed extra changes it),
``snr_db`` (WADA-SNR over the clip's non-silent frames), effective ``bandwidth_hz`` (8 kHz audio
upsampled to 16 kHz reads about 4000) and, for a transcribed clip, ``chars_per_second`` and
``words_per_second``. SNR and speaking rate are measured only where there is speech (a record with a
spoken language); elsewhere they are None. Every value is rounded here, once, before it is written
or compared with a filter's bound, so engines and machines agree on it.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipelines.core.config import QUALITY_METRICS

RATE = 16_000
FULL_SCALE = 32768.0
#: a sample this close to full scale (or closer) counts as clipped
CLIP_LEVEL = 0.999
#: energy frames of 20 ms
FRAME = 320
#: a frame is silent below this level (dBFS) or this many dB under the clip's loudest frame
SILENCE_FLOOR_DBFS = -60.0
SILENCE_RANGE_DB = 40.0
#: the level of an all-zero clip (a logarithm of zero has no value)
LEVEL_FLOOR_DBFS = -120.0
#: spectrum frames of 512 samples (at most SPECTRUM_FRAMES of them, evenly spread over the clip)
#: grouped in bands of 125 Hz; the bandwidth is the upper edge of the highest band within
#: BANDWIDTH_RANGE_DB of the strongest band
SPECTRUM_FRAME = 512
SPECTRUM_FRAMES = 48
BAND_BINS = 4
BANDWIDTH_RANGE_DB = 50.0
#: WADA-SNR: the amplitude of clean speech is taken as Gamma distributed with this shape; the table of
#: the statistic against SNR spans these values (dB); estimates are clamped to them
WADA_SHAPE = 0.4
WADA_RANGE = (-20, 100)

#: metric name -> decimals it is rounded to (bandwidth_hz: a whole number)
DECIMALS = dict(zip(QUALITY_METRICS, (1, 4, 5, 4, 3, 1, 0, 2, 2)))
#: upper bucket edges of each metric's histogram (the per-shard counters: ``accounting.count_sample``)
HISTOGRAM_EDGES = {
    "rms_dbfs": (-60, -50, -40, -30, -20, -10),
    "peak": (0.1, 0.25, 0.5, 0.9, 0.999),
    "clipping": (0.00001, 0.0001, 0.001, 0.01, 0.1),
    "dc_offset": (-0.01, -0.001, 0.001, 0.01),
    "silence": (0.1, 0.2, 0.4, 0.6, 0.8, 0.95),
    "snr_db": (0, 5, 10, 15, 20, 30, 40, 60),
    "bandwidth_hz": (3000, 4000, 5000, 6000, 7000, 7900),
    "chars_per_second": (2, 5, 10, 15, 20, 25, 30),
    "words_per_second": (0.5, 1, 2, 3, 4, 5, 6),
}


def measure(samples: np.ndarray, speech: bool, text: str | None = None) -> dict[str, float | None]:
    """The metrics of a 16 kHz mono int16 clip, rounded; ``speech``: the clip holds speech (SNR and
    speaking rate are measured); ``text``: its transcript (speaking rate)."""
    x = samples.astype(np.float32)
    x *= np.float32(1 / FULL_SCALE)
    n = len(x)
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    frames = _frame_levels(x)
    silent = frames < max(SILENCE_FLOOR_DBFS, float(frames.max()) - SILENCE_RANGE_DB)
    seconds = n / RATE
    values = {
        "rms_dbfs": _db(float(np.dot(x, x)) / n),
        "peak": peak,
        "clipping": float(np.count_nonzero(magnitude >= CLIP_LEVEL)) / n,
        "dc_offset": float(x.sum()) / n,
        "silence": float(silent.mean()),
        "snr_db": wada_snr(magnitude, silent) if speech else None,
        "bandwidth_hz": bandwidth(x) if peak > 0 else None,
        "chars_per_second": None,
        "words_per_second": None,
    }
    if speech and text:
        values["chars_per_second"] = sum(1 for c in text if not c.isspace()) / seconds
        values["words_per_second"] = len(text.split()) / seconds
    return {name: _round(name, value) for name, value in values.items()}


def _round(name: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    decimals = DECIMALS[name]
    return int(round(value)) if decimals == 0 else round(float(value), decimals)


def _db(power: float) -> float:
    return max(LEVEL_FLOOR_DBFS, 10 * np.log10(power)) if power > 0 else LEVEL_FLOOR_DBFS


def _frame_levels(x: np.ndarray) -> np.ndarray:
    """Level (dBFS) of each 20 ms frame; a clip shorter than a frame is one frame."""
    count = max(1, len(x) // FRAME)
    block = x[: count * FRAME].reshape(count, -1) if len(x) >= FRAME else x.reshape(1, -1)
    energy = np.einsum("ij,ij->i", block, block) / block.shape[1]
    return 10 * np.log10(np.maximum(energy, 10 ** (LEVEL_FLOOR_DBFS / 10)))


def wada_snr(magnitude: np.ndarray, silent: np.ndarray | None = None) -> float | None:
    """WADA-SNR (Kim and Stern, Interspeech 2008) of sample magnitudes, in dB, over the frames not
    ``silent`` (all of them when None, or when the clip is shorter than a frame); None without signal.

    The statistic ``log(mean |x|) - mean(log |x|)`` grows with the SNR of Gamma-distributed speech in
    Gaussian noise; the estimate is the SNR at which the model's statistic (``_wada_table``) equals
    the clip's."""
    floored = np.maximum(magnitude, np.float32(1e-10))
    logs = np.log(floored)
    if silent is None or len(magnitude) < FRAME:
        count, total, log_total = len(floored), float(floored.sum()), float(logs.sum())
    else:  # sums per 20 ms frame, then over the frames with signal: no copy of the voiced samples
        keep = ~silent
        size = len(silent) * FRAME
        count = int(keep.sum()) * FRAME
        total = float(floored[:size].reshape(-1, FRAME).sum(axis=1)[keep].sum())
        log_total = float(logs[:size].reshape(-1, FRAME).sum(axis=1)[keep].sum())
    if count == 0 or total <= count * 1e-10:
        return None
    statistic = float(np.log(total / count)) - log_total / count
    levels, table = _wada_table()
    return float(np.interp(statistic, table, levels))


@lru_cache(maxsize=1)
def _wada_table(draws: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """(SNR in dB, the statistic of the model at that SNR), computed once per process from fixed draws.

    Speech amplitude ~ Gamma(WADA_SHAPE) with a random sign, noise ~ Normal, the same draws at every
    level (so the curve is smooth), kept increasing so it can be inverted."""
    rng = np.random.default_rng(20080922)
    speech = rng.gamma(WADA_SHAPE, 1.0, draws) * rng.choice((-1.0, 1.0), draws)
    noise = rng.standard_normal(draws)
    speech_power = WADA_SHAPE * (WADA_SHAPE + 1)  # E[g^2] of Gamma(k, 1)
    levels = np.arange(WADA_RANGE[0], WADA_RANGE[1] + 1, dtype=np.float64)
    table = np.empty_like(levels)
    for i, level in enumerate(levels):
        mixed = np.abs(speech + noise * np.sqrt(speech_power / 10 ** (level / 10)))
        table[i] = np.log(mixed.mean()) - np.log(np.maximum(mixed, 1e-10)).mean()
    return levels, np.maximum.accumulate(table)


def bandwidth(x: np.ndarray) -> float:
    """The upper edge (Hz) of the highest 125 Hz band whose mean power is within BANDWIDTH_RANGE_DB of
    the strongest band: where the clip's spectrum ends (frames spread evenly over a long clip)."""
    count = max(1, len(x) // SPECTRUM_FRAME)
    block = x[: count * SPECTRUM_FRAME]
    if len(block) < SPECTRUM_FRAME:
        block = np.pad(x, (0, SPECTRUM_FRAME - len(x)))
    frames = block.reshape(count, SPECTRUM_FRAME)
    if count > SPECTRUM_FRAMES:
        frames = frames[np.linspace(0, count - 1, SPECTRUM_FRAMES).round().astype(np.int64)]
    spectrum = np.fft.rfft(frames * _window(), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).mean(axis=0)[1:]  # without the DC bin: 256 bins of 31.25 Hz
    bands = power.reshape(-1, BAND_BINS).sum(axis=1)
    strongest = float(bands.max())
    if strongest <= 0:
        return 0.0
    above = np.nonzero(bands >= strongest * 10 ** (-BANDWIDTH_RANGE_DB / 10))[0]
    return float((above[-1] + 1) * BAND_BINS * RATE / SPECTRUM_FRAME)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(SPECTRUM_FRAME).astype(np.float32)
