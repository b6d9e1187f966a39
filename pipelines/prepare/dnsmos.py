"""DNSMOS (Microsoft's Deep Noise Suppression MOS): model-based quality scores of speech, 1 to 5.

Computed only when the run config says ``dnsmos: true`` (never because a package happens to be
installed, so output bytes do not depend on the environment), only for clips with speech. The
``dnsmos`` extra installs ``speechmos``, whose wheel ships the ONNX models, run by onnxruntime on
the CPU: nothing is downloaded at run time. The models are loaded once per worker process, on the
first clip. Scores are rounded to DNSMOS_DECIMALS like every other metric (docs/quality.md).
"""
from __future__ import annotations

import numpy as np

from pipelines.core.config import DNSMOS_METRICS

RATE = 16_000
DNSMOS_DECIMALS = 2
#: speechmos's result keys, in the order of ``DNSMOS_METRICS``
_KEYS = ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")


class DnsmosMissing(RuntimeError):
    """The run asks for DNSMOS but the extra is not installed; the message says what to install."""


def check_installed() -> None:
    """Raise ``DnsmosMissing`` unless speechmos, onnxruntime and librosa can be imported."""
    try:
        import librosa  # noqa: F401
        import onnxruntime  # noqa: F401
        from speechmos import dnsmos  # noqa: F401
    except ImportError as exc:
        raise DnsmosMissing(
            f"the run config asks for DNSMOS (dnsmos: true) but {exc.name} is not installed: "
            "install the dnsmos extra (pip install 'audioprep[dnsmos]'), or leave dnsmos out"
        ) from None


def measure(samples: np.ndarray) -> dict[str, float]:
    """The DNSMOS scores of a 16 kHz int16 clip (overall, signal, background, P.808), rounded."""
    from speechmos import dnsmos

    audio = samples.astype(np.float32) * np.float32(1 / 32768)
    scores = dnsmos.run(audio, sr=RATE)
    return {name: round(float(scores[key]), DNSMOS_DECIMALS) for name, key in zip(DNSMOS_METRICS, _KEYS)}
