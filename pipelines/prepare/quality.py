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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipelines.core.config import DNSMOS_METRICS, QUALITY_METRICS

RATE = 16_000
FULL_SCALE = 32768.0
#: a sample this close to full scale (or closer) counts as clipped
CLIP_LEVEL = 0.999
#: energy frames of 20 ms, scanned CHUNK samples at a time (4 s: a float32 block that stays in the CPU's cache;
#: fewer numpy calls per clip than 1.5 s blocks, measured cheaper: bench/README.md)
FRAME = 320
CHUNK = 200 * FRAME
#: a frame is silent below this level (dBFS) or this many dB under the clip's loudest frame
SILENCE_FLOOR_DBFS = -60.0
SILENCE_RANGE_DB = 40.0
#: the level of an all-zero clip (a logarithm of zero has no value)
LEVEL_FLOOR_DBFS = -120.0
#: spectrum frames of 512 samples (at most SPECTRUM_FRAMES of them, evenly spread over the clip)
#: grouped in bands of 125 Hz; the bandwidth is the upper edge of the highest band within
#: BANDWIDTH_RANGE_DB of the strongest band
SPECTRUM_FRAME = 512
SPECTRUM_FRAMES = 32
BAND_BINS = 4
BANDWIDTH_RANGE_DB = 50.0
#: WADA-SNR: the amplitude of clean speech is taken as Gamma distributed with this shape; the table of
#: the statistic against SNR spans these values (dB); estimates are clamped to them
WADA_SHAPE = 0.4
WADA_RANGE = (-20, 100)
#: sample magnitudes are floored here before their logarithm (WADA-SNR: a logarithm of zero has no value)
MAGNITUDE_FLOOR = 1e-10

#: metric name -> decimals it is rounded to (bandwidth_hz: a whole number)
DECIMALS = dict(zip(QUALITY_METRICS, (1, 4, 5, 4, 3, 1, 0, 2, 2)))
#: every metric a rule can name, in the order rules are checked: these, then DNSMOS's (when asked for)
FILTER_METRICS = QUALITY_METRICS + DNSMOS_METRICS
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
    **{name: (1.5, 2, 2.5, 3, 3.5, 4, 4.5) for name in DNSMOS_METRICS},
}


def measure(samples: np.ndarray, speech: bool, text: str | None = None) -> dict[str, float | None]:
    """The metrics of a 16 kHz mono int16 clip, rounded; ``speech``: the clip holds speech (SNR and
    speaking rate are measured); ``text``: its transcript (speaking rate)."""
    n = len(samples)
    if n == 0:
        raise ValueError("a clip of no samples has no quality metrics (the audio stage quarantines it as empty_audio)")
    scan = _scan(samples, logs=speech)
    levels = 10 * np.log10(np.maximum(scan.energy / scan.frame, 10 ** (LEVEL_FLOOR_DBFS / 10)))
    silent = levels < max(SILENCE_FLOOR_DBFS, float(levels.max()) - SILENCE_RANGE_DB)
    seconds = n / RATE
    values = {
        "rms_dbfs": _db(scan.power / n),
        "peak": scan.peak,
        "clipping": _clipped(samples) / n if scan.peak >= CLIP_LEVEL else 0.0,
        "dc_offset": scan.total / n,
        "silence": float(silent.mean()),
        "snr_db": None,
        "bandwidth_hz": bandwidth(samples) if scan.peak > 0 else None,
        "chars_per_second": None,
        "words_per_second": None,
    }
    if speech:  # over the frames with signal
        keep = ~silent
        values["snr_db"] = wada_snr(float(scan.abs_sums[keep].sum()), float(scan.log_sums[keep].sum()), int(keep.sum()) * scan.frame)
        if text:
            words = text.split()  # split at what str.isspace calls white space
            values["chars_per_second"] = sum(map(len, words)) / seconds
            values["words_per_second"] = len(words) / seconds
    return {name: _round(name, value) for name, value in values.items()}


def _round(name: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    decimals = DECIMALS[name]
    return int(round(value)) if decimals == 0 else round(float(value), decimals)


def _db(power: float) -> float:
    return max(LEVEL_FLOOR_DBFS, 10 * np.log10(power)) if power > 0 else LEVEL_FLOOR_DBFS


def _clipped(samples: np.ndarray) -> int:
    """Samples at CLIP_LEVEL of full scale or beyond (|s| / 32768 >= 0.999 is |s| >= 32736)."""
    level = int(np.ceil(CLIP_LEVEL * FULL_SCALE))
    return int(np.count_nonzero(samples >= level)) + int(np.count_nonzero(samples <= -level))


@dataclass
class _Scan:
    """Sums of one pass over a clip: per frame (``frame`` samples each; a clip shorter than a frame
    is one frame; the samples after the last whole frame are in no frame) and over every sample."""

    frame: int
    energy: np.ndarray  # sum of x^2 per frame
    abs_sums: np.ndarray  # sum of max(|x|, MAGNITUDE_FLOOR) per frame (WADA)
    log_sums: np.ndarray  # sum of log(max(|x|, MAGNITUDE_FLOOR)) per frame (WADA)
    peak: float = 0.0
    total: float = 0.0
    power: float = 0.0


def _scan(samples: np.ndarray, logs: bool) -> _Scan:
    """One pass over an int16 clip in blocks of CHUNK samples (one float32 buffer that stays in the
    CPU's cache, instead of a float copy of the whole clip per operation; the magnitudes overwrite the
    block once its energy is taken); ``logs``: also the sums WADA-SNR needs. The peak is read from the
    integers (exact, no magnitude array)."""
    n = len(samples)
    frame = FRAME if n >= FRAME else n
    count = n // frame
    scan = _Scan(frame, np.empty(count), np.zeros(count), np.zeros(count))
    scan.peak = max(int(samples.max()), -int(samples.min())) / FULL_SCALE
    step = min(CHUNK, n) if n >= FRAME else n
    x = np.empty(step, np.float32)
    for start in range(0, n, step):
        size = min(step, n - start)
        xb = x[:size]
        np.multiply(samples[start : start + size], np.float32(1 / FULL_SCALE), out=xb)
        scan.total += float(xb.sum())
        whole, first = size // frame * frame, start // frame
        framed = xb[:whole].reshape(-1, frame)
        energy = np.einsum("ij,ij->i", framed, framed)
        rows = slice(first, first + len(energy))
        scan.energy[rows] = energy
        tail = xb[whole:]
        scan.power += float(energy.sum(dtype=np.float64)) + float(np.dot(tail, tail))
        if logs:
            _magnitude_sums(framed, scan.abs_sums[rows], scan.log_sums[rows])
    return scan


def _magnitude_sums(framed: np.ndarray, abs_sums: np.ndarray, log_sums: np.ndarray) -> None:
    """Per frame of ``framed`` (float32 samples, overwritten), the sums of max(|x|, MAGNITUDE_FLOOR) and
    of their logarithms, into ``abs_sums`` and ``log_sums``."""
    magnitude = np.maximum(np.abs(framed, out=framed), np.float32(MAGNITUDE_FLOOR), out=framed)
    abs_sums[:] = np.einsum("ij->i", magnitude)
    log_sums[:] = np.einsum("ij->i", np.log(magnitude, out=magnitude))


def wada_snr(abs_sum: float, log_sum: float, count: int) -> float | None:
    """WADA-SNR (Kim and Stern, Interspeech 2008) in dB from ``count`` sample magnitudes (floored at
    MAGNITUDE_FLOOR): the sum of them and of their logarithms; None without signal.

    The statistic ``log(mean |x|) - mean(log |x|)`` grows with the SNR of Gamma-distributed speech in
    Gaussian noise; the estimate is the SNR at which the model's statistic (``_wada_table``) equals
    the clip's."""
    if count == 0 or abs_sum <= count * 1e-9:
        return None
    statistic = float(np.log(abs_sum / count)) - log_sum / count
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
    mixed = np.empty(draws)  # one buffer for every level: no fresh pages to fault in per operation
    for i, level in enumerate(levels):
        np.abs(np.add(speech, np.multiply(noise, np.sqrt(speech_power / 10 ** (level / 10)), out=mixed), out=mixed), out=mixed)
        mean = mixed.mean()
        np.log(np.maximum(mixed, MAGNITUDE_FLOOR, out=mixed), out=mixed)
        table[i] = np.log(mean) - mixed.mean()
    return levels, np.maximum.accumulate(table)


def bandwidth(samples: np.ndarray) -> float:
    """The upper edge (Hz) of the highest 125 Hz band whose mean power is within BANDWIDTH_RANGE_DB of
    the strongest band: where the clip's spectrum ends (frames spread evenly over a long clip)."""
    count = max(1, len(samples) // SPECTRUM_FRAME)
    block = samples[: count * SPECTRUM_FRAME]
    if len(block) < SPECTRUM_FRAME:
        block = np.pad(samples, (0, SPECTRUM_FRAME - len(samples)))
    frames = block.reshape(count, SPECTRUM_FRAME)
    if count > SPECTRUM_FRAMES:
        frames = frames[np.linspace(0, count - 1, SPECTRUM_FRAMES).round().astype(np.int64)]
    spectrum = np.fft.rfft(frames * _window(), axis=1)  # int16 scale: the band ratios do not depend on it
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
