"""Log-mel features as Whisper computes them (Qwen-Audio's front end), in numpy: no torch needed.

Whisper's recipe at 16 kHz: a 400-sample periodic Hann window every 160 samples over the waveform
padded by reflection (200 samples each side), the power spectrum without the last frame, an 80- or
128-band mel filter bank (Slaney's scale and area normalization, as ``librosa.filters.mel`` builds
it), ``log10`` clamped at 1e-10, floored at the maximum minus 8, then ``(x + 4) / 4``. Frames are
one per 10 ms; the waveform is not padded to 30 s here (Whisper's ``pad_or_trim`` is the caller's).
Checked against librosa's filter bank and a torch transcription of Whisper's function in the tests.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
MEL_BINS = (80, 128)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@lru_cache(maxsize=len(MEL_BINS))
def mel_filters(n_mels: int) -> np.ndarray:
    """The (n_mels, 201) filter bank Whisper uses: triangles on Slaney's scale, area-normalized."""
    if n_mels not in MEL_BINS:
        raise ValueError(f"Whisper's front end has {MEL_BINS[0]} or {MEL_BINS[1]} mel bins, not {n_mels}")
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(waveform: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """The (n_mels, len // 160) log-mel spectrogram of 16 kHz float audio, as Whisper computes it."""
    audio = np.asarray(waveform, dtype=np.float32)
    if audio.ndim != 1 or len(audio) <= N_FFT // 2:
        raise ValueError(f"log_mel needs mono audio longer than {N_FFT // 2} samples, got shape {audio.shape}")
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:-1]
    power = np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2
    mel = mel_filters(n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
