"""Language identification of transcripts (and translations) against the declared language.

``langid`` restricted to the languages that have a Qwen-Audio token. Two numbers per text:

* ``score``: langid's probability of the detected language, normalized over the allowed languages
  (it saturates at 1.0 after a few words, so it decides only beside the margin, in long texts);
* ``margin``: how much more likely the detected language is than the declared one, in nats per
  letter (log-probability difference divided by the letter count): independent of the length.

Verdicts, in this order:

* ``short``: fewer than ``MIN_LETTERS`` letters (``MIN_CJK`` when Chinese, Japanese or Korean is
  involved, whose characters carry more) -> too short to judge; passes with this flag;
* ``match``: detected as declared;
* ``mismatch``: another language, by a margin of ``MIN_MARGIN`` or more, or, in a text of
  ``LONG_WORDS`` words or more, by a margin of ``LONG_MARGIN`` or more with a score of
  ``LONG_SCORE`` or more (langid's evidence adds up over the words: a German sentence written
  without umlauts has a margin near 0.7; the score says langid is sure which other language it
  is); and the detected language still leads once the words that favour it most are set aside
  (one distinct word in five, rounded up, every occurrence): a name (``Dantès``, ``Mercédès``)
  lends an English sentence a French margin, it does not make a French sentence of it -> the
  record is quarantined (``language_mismatch``, naming the detected language, score and margin);
* ``uncertain``: another language, not decided by the rule above -> passes with this flag.

The thresholds were calibrated on the real sentences of ``tests/data/language_calibration``
(``bench/language_calibration.py`` reports precision and recall; docs/text.md gives the figures).
Flags are counted in the statistics; the detected language is kept on the sample (shard JSON
``language_check``). The model is loaded once per process and shared by every call (``_Scorer``).
langid ships it as a bz2-compressed pickle that is slow to open in every worker process; the first
process saves the model, already restricted to the token languages, as plain arrays (``.npz``, no
pickle) under the user's cache directory (``AUDIOPREP_CACHE``, else ``$XDG_CACHE_HOME/audioprep``,
else ``~/.cache/audioprep``), and every later process loads those instead (bench/README.md has the
figures). A missing, unwritable or damaged cache only costs the slow path.
"""
from __future__ import annotations

import array
import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tag_builder.languages import LANGUAGE_TOKENS

MIN_LETTERS = 20
MIN_CJK = 5
#: nats per letter by which another language must win a text of any length
MIN_MARGIN = 1.0
#: a text of this many words (``words``) needs only ``LONG_MARGIN`` nats per letter, at a score of ``LONG_SCORE``
LONG_WORDS = 10
LONG_MARGIN = 0.5
LONG_SCORE = 0.99
#: one distinct word in this many (rounded up) is set aside before the detected language must still lead
ASIDE_ONE_IN = 5
CJK_LANGUAGES = ("zh", "ja", "ko")
#: Declared code -> the code langid answers (Traditional Chinese is Chinese to langid).
LANGID_CODE = {code: ("zh" if code == "zh_tr" else code) for code in LANGUAGE_TOKENS}


@dataclass(frozen=True)
class LanguageCheck:
    declared: str
    detected: str
    score: float  # normalized probability of ``detected``
    margin: float  # nats per letter by which ``detected`` beats ``declared`` (0 on a match)
    verdict: str  # short, match, uncertain, mismatch

    def to_dict(self) -> dict:
        return {"declared": self.declared, "detected": self.detected, "score": self.score, "margin": self.margin, "verdict": self.verdict}


def cache_dir() -> str:
    """Where derived models are kept between runs."""
    explicit = os.environ.get("AUDIOPREP_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        # no home (a container user without a passwd entry): the temp folder, never a "~" folder in cwd
        base = os.path.join(tempfile.gettempdir() if home.startswith("~") else home, ".cache")
    return os.path.join(base, "audioprep")


def _cache_path(model: str) -> str:
    """One file per langid model and language set: a new langid or a new token set misses the cache."""
    from langid import langid as module

    languages = ",".join(sorted(set(LANGID_CODE.values())))
    digest = hashlib.sha256(f"{languages}|{len(model)}|{model[:4096]}|{model[-4096:]}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"langid-{os.path.getsize(module.__file__)}-{digest}.npz")


def _save(path: str, found) -> None:
    states = sorted(found.tk_output)
    outputs = [found.tk_output[state] for state in states]
    arrays = {
        "nb_ptc": np.asarray(found.nb_ptc), "nb_pc": np.asarray(found.nb_pc), "nb_classes": np.asarray(found.nb_classes),
        "tk_nextmove": np.frombuffer(found.tk_nextmove, dtype=np.uint16),
        "out_states": np.asarray(states, dtype=np.int64),
        "out_counts": np.asarray([len(o) for o in outputs], dtype=np.int64),
        "out_values": np.asarray([i for o in outputs for i in o], dtype=np.int64),
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)  # concurrent workers: the last complete file wins, never a partial one
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _load(path: str):
    from langid.langid import LanguageIdentifier

    with np.load(path, allow_pickle=False) as data:
        nb_ptc, nb_pc = data["nb_ptc"], data["nb_pc"]
        nextmove = array.array("H", data["tk_nextmove"].astype(np.uint16).tobytes())  # array.array: fast scalar indexing
        values, output, start = data["out_values"].tolist(), {}, 0
        for state, count in zip(data["out_states"].tolist(), data["out_counts"].tolist()):
            output[state] = tuple(values[start:start + count])
            start += count
        classes = [str(c) for c in data["nb_classes"]]
    return LanguageIdentifier(nb_ptc, nb_pc, nb_ptc.shape[0], classes, nextmove, output, norm_probs=False)


@lru_cache(maxsize=1)
def identifier():
    """langid's model restricted to the languages with a token; loaded once per process (from the
    cache when an earlier process saved it)."""
    from langid.langid import LanguageIdentifier, model

    try:
        path = _cache_path(model)
    except OSError:
        path = None
    if path is not None and os.path.exists(path):
        try:
            return _load(path)
        except Exception:  # noqa: BLE001 - a damaged or foreign file (bad zip, wrong arrays): rebuilt below
            pass
    found = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    found.set_languages(sorted(set(LANGID_CODE.values())))
    if path is not None:
        try:
            _save(path, found)
        except OSError:
            pass  # a read-only home: every process takes the slow path, nothing else changes
    return found


def letters(text: str) -> int:
    """Letters in ``text`` (digits, spaces and punctuation do not count): characters of Unicode
    category L*, which is what ``str.isalpha`` tests (much faster than asking for the category)."""
    return sum(map(str.isalpha, text))


@dataclass(frozen=True)
class _Scorer:
    """langid's naive Bayes log-probabilities of a text, computed from the states its byte automaton
    visits. langid counts the features each visited state emits into a 7,480-long vector and takes
    its dot product with the feature log-probabilities; the sum is the same when each state's
    features are added up once, at load (``state_logp``), and the visited states' rows are summed:
    less CPU a text, the same numbers (tested against langid's own path)."""

    nextmove: array.array  # langid's byte automaton: next state = nextmove[(state << 8) + byte]
    state_logp: np.ndarray  # (states, classes) float64: the log-probabilities of the features a state emits
    prior: np.ndarray  # (classes,) langid's class log-priors
    classes: tuple[str, ...]

    @classmethod
    def of(cls, found) -> "_Scorer":
        ptc = np.asarray(found.nb_ptc, dtype=np.float64)
        states = sorted(state for state, out in found.tk_output.items() if out)
        rows = np.zeros((len(found.tk_nextmove) >> 8, ptc.shape[1]))
        if states:
            features = [index for state in states for index in found.tk_output[state]]
            starts = np.cumsum([0] + [len(found.tk_output[state]) for state in states[:-1]])
            rows[states] = np.add.reduceat(ptc[features], starts, axis=0)
        classes = tuple(str(c) for c in found.nb_classes)
        return cls(found.tk_nextmove, rows, np.asarray(found.nb_pc, dtype=np.float64), classes)

    def logprobs(self, text: str) -> np.ndarray:
        nextmove, state, visited = self.nextmove, 0, []
        append = visited.append
        for byte in text.encode("utf-8"):
            state = nextmove[(state << 8) + byte]
            append(state)
        return self.prior + self.state_logp[visited].sum(axis=0) if visited else self.prior.copy()


@lru_cache(maxsize=1)
def _scorer(found) -> _Scorer:
    return _Scorer.of(found)


def check(text: str, declared: str) -> LanguageCheck | None:
    """The verdict on ``text`` declared as ``declared``; None when langid does not know that language."""
    expected = LANGID_CODE.get(declared)
    if expected is None:
        return None
    scorer = _scorer(identifier())
    logp = scorer.logprobs(text)
    classes = scorer.classes
    best = int(np.argmax(logp))
    detected = classes[best]
    score = round(float(1.0 / np.exp(logp - logp[best]).sum()), 4)
    count = letters(text)
    margin = round(float(logp[best] - logp[classes.index(expected)]) / max(1, count), 3)
    if count < (MIN_CJK if expected in CJK_LANGUAGES or detected in CJK_LANGUAGES else MIN_LETTERS):
        verdict = "short"
    elif detected == expected:
        verdict = "match"
    elif _decisive(scorer, text, score, margin, best, classes.index(expected)):
        verdict = "mismatch"
    else:
        verdict = "uncertain"
    return LanguageCheck(declared, detected, score, margin, verdict)


def words(text: str) -> list[str]:
    """The words of ``text``: the pieces between spaces that hold a letter (a Chinese or Japanese
    text written without spaces is one word)."""
    return [piece for piece in text.split() if any(map(str.isalpha, piece))]


def _decisive(scorer: _Scorer, text: str, score: float, margin: float, detected: int, declared: int) -> bool:
    """Whether another language wins ``text`` clearly enough to quarantine it (the rule in the module
    docstring): by its margin, and not only through the few words that favour it most."""
    pieces = words(text)
    if margin < MIN_MARGIN and not (len(pieces) >= LONG_WORDS and margin >= LONG_MARGIN and score >= LONG_SCORE):
        return False
    return _lead(scorer, " ".join(_without_strongest(scorer, pieces, detected, declared)), detected, declared) > 0


def _lead(scorer: _Scorer, text: str, detected: int, declared: int) -> float:
    """Nats by which language ``detected`` beats ``declared`` on ``text``."""
    logp = scorer.logprobs(text)
    return float(logp[detected] - logp[declared])


def _without_strongest(scorer: _Scorer, pieces: list[str], detected: int, declared: int) -> list[str]:
    """``pieces`` less every occurrence of the distinct words that favour ``detected`` most, one in
    ``ASIDE_ONE_IN`` rounded up (none when there are one or two). Each word is scored between
    spaces, as it stands in a text."""
    distinct = list(dict.fromkeys(pieces))
    if len(distinct) <= 2:
        return pieces
    ranked = sorted(distinct, key=lambda word: _lead(scorer, f" {word} ", detected, declared), reverse=True)
    aside = set(ranked[: -(-len(distinct) // ASIDE_ONE_IN)])
    return [piece for piece in pieces if piece not in aside]
