"""Forced aligners: word (or character) times for a transcript in its audio (docs/long-form.md).

* English: ``PocketsphinxAligner``, the CMU Sphinx en-us acoustic model and dictionary that the
  pocketsphinx wheel ships; ``Decoder.set_align_text`` aligns at 10 ms frames, optional silences
  between words. A word missing from the dictionary is not guessed: the utterance is refused
  (``oov_words``, naming the words), as is audio the aligner cannot fit (``alignment_failed``).
* Other languages (Chinese first): ``CtcAligner``, ``torchaudio.functional.forced_align`` over the
  emissions of a CTC acoustic model the user points to on disk (a TorchScript file and its token
  list), installed as the ``ctc`` extra. One unit per character (Chinese) or word.

Both load their model once per process, on first use (a worker that never meets such a record never
pays for it), and are deterministic on the CPU.
"""
from __future__ import annotations

import os
import re
import threading

import numpy as np

from pipelines.core.record import Refusal
from pipelines.prepare.srwt import CHARACTER_LANGUAGES, match_key, units

FRAME_SECONDS = 0.01  # pocketsphinx: 100 frames per second


class AlignError(Refusal, ValueError):
    """No word times from the aligner for this record."""


#: English clitics written as words of their own (TED-LIUM's "i 've", "it 's"), with the reduced
#: pronunciations of the contracted forms; the CMU dictionary lacks most of them as separate words.
CLITICS = {"'s": "Z", "'ve": "V", "'re": "ER", "'ll": "L", "'d": "D", "'m": "M", "'t": "T", "n't": "N T"}


def _dictionary_word(unit: str) -> str:
    """A transcript unit as the CMU dictionary spells it: lower case, letters, digits and apostrophes
    (quotes around a word dropped; a clitic of its own keeps its apostrophe)."""
    word = "".join(c for c in unit.lower() if c.isalnum() or c in "'’").replace("’", "'").rstrip("'")
    if word in CLITICS:
        return word
    return word.lstrip("'") or word


class PocketsphinxAligner:
    """English forced alignment with pocketsphinx (model loaded once per process, on first use)."""

    language = "en"
    #: wide beams: the defaults prune the only path of the alignment grammar on long or noisy utterances;
    #: silprob 1.0 (default 0.005): a pause becomes silence instead of stretching the next word (a long
    #: LibriSpeech pause was inside "but"; bench/aligner.py's error falls: bench/README.md)
    OPTIONS = dict(
        beam=1e-100, wbeam=1e-80, pbeam=1e-100, fsgusefiller=True, silprob=1.0, bestpath=False, lm=None, loglevel="FATAL"
    )

    def __init__(self):
        self._decoder = None
        self._lock = threading.Lock()

    @staticmethod
    def check():
        """pocketsphinx's ``Decoder``; AlignError (``aligner_missing``, with the install hint) without it."""
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise AlignError(
                "aligner_missing", "the English aligner needs pocketsphinx: pip install 'audioprep[longform]'"
            ) from None
        return Decoder

    def setup(self) -> None:
        if self._decoder is None:
            decoder = self.check()(samprate=16000, **self.OPTIONS)
            for clitic, phones in CLITICS.items():  # the fixed table above, never a guess per word
                if decoder.lookup_word(clitic) is None:
                    decoder.add_word(clitic, phones, True)
            self._decoder = decoder

    def align(self, samples: np.ndarray, text: str, language: str = "en") -> tuple[tuple[str, float, float], ...]:
        """(unit, start, end) for every unit of ``text`` in 16 kHz int16 ``samples``, seconds from their start."""
        unit_list = units(text, language)
        words = [_dictionary_word(u) for u in unit_list]
        with self._lock:
            self.setup()
            decoder = self._decoder
            missing = sorted({w for w in words if decoder.lookup_word(w) is None})
            if missing:
                raise AlignError("oov_words", f"not in the pronunciation dictionary: {', '.join(missing[:10])}")
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(np.ascontiguousarray(samples, dtype=np.int16).tobytes(), full_utt=True)
            decoder.end_utt()
            segments = decoder.seg()
            found = [] if segments is None else [
                (s.word, s.start_frame * FRAME_SECONDS, (s.end_frame + 1) * FRAME_SECONDS) for s in segments
            ]
        found = [(re.sub(r"\(\d+\)$", "", w), a, b) for w, a, b in found if w not in ("<s>", "</s>", "<sil>", "[NOISE]")]
        if [w for w, _, _ in found] != words:
            raise AlignError("alignment_failed", f"the aligner could not fit {len(words)} words to {len(samples) / 16000:.2f} s of audio")
        seconds = len(samples) / 16000
        return tuple((unit, round(a, 2), round(min(b, seconds), 2)) for unit, (_, a, b) in zip(unit_list, found))


class CtcAligner:
    """CTC forced alignment (``torchaudio.functional.forced_align``) with a model on disk.

    ``model``: a TorchScript file mapping a (1, samples) float waveform at 16 kHz to (1, frames,
    tokens) log-probabilities (e.g. an exported MMS or wav2vec2 CTC model); ``tokens``: a text file
    with one token per line, line n being class n, the blank first (``<blank>``, ``<pad>`` or ``-``)
    and ``|`` (or a space) as the word separator when there is one.
    """

    def __init__(self, model: str, tokens: str | None = None, language: str = "zh"):
        self.model_path = model
        self.tokens_path = tokens or os.path.join(os.path.dirname(model), "tokens.txt")
        self.language = language
        self._model = None
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self):
        """torch; AlignError (``aligner_missing``, with the install hint) without torch and torchaudio or
        without the model's files."""
        try:
            import torch
            import torchaudio.functional  # noqa: F401
        except (ImportError, OSError) as exc:
            raise AlignError(
                "aligner_missing",
                f"the CTC aligner needs torch and torchaudio: pip install 'audioprep[ctc]' ({type(exc).__name__}: {exc})",
            ) from None
        for path in (self.model_path, self.tokens_path):
            if not os.path.isfile(path):
                raise AlignError("aligner_missing", f"CTC aligner: no file {path}")
        return torch

    def setup(self) -> None:
        if self._model is not None:
            return
        torch = self.check()
        with open(self.tokens_path, encoding="utf-8") as handle:
            tokens = [line.rstrip("\n") for line in handle]
        self._index = {token: i for i, token in enumerate(tokens) if token}
        model = torch.jit.load(self.model_path, map_location="cpu")
        model.eval()
        self._model = model

    def _targets(self, unit_list: list[str]) -> tuple[list[int], list[int]]:
        """Token ids of the units' characters, and how many tokens each unit has."""
        ids, counts = [], []
        for unit in unit_list:
            key = match_key(unit)
            unknown = [c for c in key if c not in self._index]
            if unknown:
                raise AlignError("oov_words", f"characters not in the model's tokens: {''.join(sorted(set(unknown)))[:20]}")
            ids.extend(self._index[c] for c in key)
            counts.append(len(key))
        return ids, counts

    def align(self, samples: np.ndarray, text: str, language: str | None = None) -> tuple[tuple[str, float, float], ...]:
        language = language or self.language
        unit_list = units(text, language)
        with self._lock:
            self.setup()
            import torch
            import torchaudio.functional as F

            ids, counts = self._targets(unit_list)
            waveform = torch.from_numpy(samples.astype(np.float32) / 32768.0).unsqueeze(0)
            with torch.inference_mode():
                emission = self._model(waveform)
                if isinstance(emission, (tuple, list)):
                    emission = emission[0]
                emission = torch.log_softmax(emission.float(), dim=-1)
            frames = emission.shape[1]
            if frames < len(ids):
                raise AlignError("alignment_failed", f"{len(ids)} tokens do not fit in {frames} frames")
            targets = torch.tensor([ids], dtype=torch.int32)
            try:
                path, scores = F.forced_align(emission, targets, blank=0)
            except RuntimeError as exc:
                raise AlignError("alignment_failed", f"forced_align: {exc}") from None
            spans = F.merge_tokens(path[0], scores[0].exp())
        seconds_per_frame = len(samples) / 16000 / frames
        out, position = [], 0
        for unit, count in zip(unit_list, counts):
            first, last = spans[position], spans[position + count - 1]
            out.append((unit, round(first.start * seconds_per_frame, 2), round(last.end * seconds_per_frame, 2)))
            position += count
        return tuple(out)


class Aligners:
    """The aligner of each language: pocketsphinx for English, a CTC model per configured language."""

    def __init__(self, ctc_models: dict[str, str] | None = None):
        self.by_language: dict[str, object] = {"en": PocketsphinxAligner()}
        for language, model in sorted((ctc_models or {}).items()):
            self.by_language[language] = CtcAligner(model, language=language)

    def languages(self) -> frozenset[str]:
        return frozenset(self.by_language)

    def get(self, language: str | None):
        return self.by_language.get(language or "")


__all__ = ["AlignError", "Aligners", "CtcAligner", "PocketsphinxAligner", "CHARACTER_LANGUAGES"]
