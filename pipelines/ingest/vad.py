"""Speech without segment annotations, cut at pauses found by a voice-activity detector.

Silero VAD's ONNX model (shipped inside the silero-vad wheel) run with onnxruntime: no torch is
imported. Speech probability per 32 ms frame (512 samples at 16 kHz, with the 64-sample context the
model expects), hysteresis thresholds, then ``cut_points``: windows of at most ``max_seconds`` whose
ends lie in the middle of pauses (greedy: the last pause that keeps the window within the limit). A stretch of speech longer
than the limit with no pause in it is refused (``no_pause``), never cut in the middle of a word.

With ``windows.long_audio: vad`` in a schema, ingest (``pipelines.ingest.windows``) decodes each long
whole-file record without a transcript once, finds its windows here, and writes one record per
window to the manifest (key from the recording key and the window start): windows are decided
before the plan, like packed segments, so every engine shards the same records.
"""
from __future__ import annotations

import threading
from importlib.resources import files

import numpy as np

from pipelines.core.record import Refusal

RATE = 16_000
FRAME = 512
CONTEXT = 64
FRAME_SECONDS = FRAME / RATE


class VadError(Refusal, ValueError):
    """A long recording voice activity detection cannot cut into windows."""


class SileroVad:
    """Silero VAD over onnxruntime, loaded once per process on first use."""

    def __init__(self, threshold: float = 0.5, negative_threshold: float = 0.35):
        self.threshold = threshold
        self.negative_threshold = negative_threshold
        self._session = None
        self._lock = threading.Lock()

    def setup(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime
            model = files("silero_vad").joinpath("data/silero_vad.onnx")
        except (ImportError, ModuleNotFoundError):
            raise VadError("vad_missing", "the VAD needs silero-vad and onnxruntime: pip install 'audioprep[longform]'") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # deterministic and polite next to other workers
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of every 32 ms frame of 16 kHz int16 (or float) ``samples``."""
        x = samples.astype(np.float32) / (32768.0 if samples.dtype == np.int16 else 1.0)
        frames = int(np.ceil(len(x) / FRAME))
        x = np.pad(x, (0, frames * FRAME - len(x)))
        out = np.empty(frames, dtype=np.float32)
        with self._lock:
            self.setup()
            state = np.zeros((2, 1, 128), dtype=np.float32)
            context = np.zeros((1, CONTEXT), dtype=np.float32)
            rate = np.array(RATE, dtype=np.int64)
            for i in range(frames):
                chunk = np.concatenate([context, x[None, i * FRAME : (i + 1) * FRAME]], axis=1)
                prob, state = self._session.run(None, {"input": chunk, "state": state, "sr": rate})
                out[i] = prob[0, 0]
                context = chunk[:, -CONTEXT:]
        return out

    def speech(self, samples: np.ndarray, min_silence: float = 0.1) -> list[tuple[float, float]]:
        """Speech stretches (start, end) in seconds; pauses shorter than ``min_silence`` are bridged."""
        probs = self.probabilities(samples)
        spans, start, quiet = [], None, 0
        bridge = max(1, round(min_silence / FRAME_SECONDS))
        for i, p in enumerate(probs):
            if start is None:
                if p >= self.threshold:
                    start, quiet = i, 0
            elif p < self.negative_threshold:
                quiet += 1
                if quiet >= bridge:
                    spans.append((start, i - quiet + 1))
                    start = None
            else:
                quiet = 0
        if start is not None:
            spans.append((start, len(probs) - quiet))
        total = len(samples) / RATE
        return [(round(a * FRAME_SECONDS, 3), round(min(b * FRAME_SECONDS, total), 3)) for a, b in spans if b > a]


def cut_points(speech: list[tuple[float, float]], total: float, max_seconds: float) -> list[tuple[float, float]]:
    """Windows (start, end) of at most ``max_seconds`` covering every speech stretch, cut in pauses.

    Greedy from the left: a window starts in the pause before its first stretch and ends in the
    middle of the last pause that keeps it within the limit. A stretch longer than the limit raises.
    """
    windows: list[tuple[float, float]] = []
    i = 0
    while i < len(speech):
        prev_end = windows[-1][1] if windows else 0.0
        start = max(prev_end, speech[i][0] - 0.2)
        if speech[i][1] - start > max_seconds:
            start = speech[i][0]
            if speech[i][1] - start > max_seconds:
                length = speech[i][1] - speech[i][0]
                raise VadError("no_pause", f"{length:.2f} s of speech from {speech[i][0]:.2f} s without a pause")
        j = i
        while j + 1 < len(speech) and speech[j + 1][1] - start <= max_seconds:
            j += 1
        following = speech[j + 1][0] if j + 1 < len(speech) else total
        end = min(start + max_seconds, (speech[j][1] + following) / 2 if j + 1 < len(speech) else min(total, speech[j][1] + 0.2))
        windows.append((round(start, 2), round(max(end, speech[j][1]), 2)))
        i = j + 1
    return windows


def vad_windows(
    path: str, record, max_seconds: float, min_seconds: float, vad: SileroVad | None = None
) -> list[tuple[float, float]]:
    """Windows (start, end) of a whole-file speech record, cut in pauses; raises VadError or AudioError."""
    from pipelines.core import audio

    clip = audio.load(path, record.offset, None, record.channel, max_seconds=float("inf"))
    speech = (vad or default_vad()).speech(clip.samples)
    kept = [(a, b) for a, b in cut_points(speech, clip.seconds, max_seconds) if b - a >= min_seconds]
    if not kept:
        raise VadError("no_speech", f"{path}: the VAD found no speech window of at least {min_seconds:g} s")
    return kept


_DEFAULT: SileroVad | None = None


def default_vad() -> SileroVad:
    """One detector per process (the ONNX session is loaded on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SileroVad()
    return _DEFAULT
