"""Language identification of transcripts (and translations) against the declared language.

``langid`` restricted to the languages that have a Qwen-Audio token. Two numbers per text:

* ``score``: langid's probability of the detected language, normalized over the allowed languages
  (reported, but it saturates at 1.0 after a few words, so it does not decide alone);
* ``margin``: how much more likely the detected language is than the declared one, in nats per
  letter (log-probability difference divided by the letter count): independent of the length.

Verdicts, in this order:

* ``short``: fewer than ``MIN_LETTERS`` letters (``MIN_CJK`` when Chinese, Japanese or Korean is
  involved, whose characters carry more) -> too short to judge; passes with this flag;
* ``match``: detected as declared;
* ``uncertain``: another language, with a margin below ``MIN_MARGIN`` -> passes with this flag;
* ``mismatch``: another language by ``MIN_MARGIN`` or more -> the record is quarantined
  (``language_mismatch``, naming the detected language, score and margin).

Thresholds were set on real sentences (German, French, Spanish, Italian, Chinese and Japanese
declared as English or German: margins 0.8-45) against random English word salad, langid's worst
case (misread as French or Spanish with scores up to 1.0, but margins below 1.0). Flags are counted
in the statistics; the detected language is kept on the sample (shard JSON ``language_check``).
The model is loaded once per process and shared by every call (scored by ``_Scorer``). langid
ships it as a bz2-compressed pickle that is slow to open in every worker process; the first process
saves the model, already restricted to the token languages, as plain arrays (``.npz``, no pickle)
under the user's cache directory (``AUDIOPREP_CACHE``, else ``$XDG_CACHE_HOME/audioprep``, else
``~/.cache/audioprep``), which every later process loads quickly (bench/README.md has the costs).
A missing, unwritable or damaged cache only costs the slow path.
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
MIN_MARGIN = 1.0
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
    less CPU a text (bench/README.md), the same numbers (tested against langid's own path)."""

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
    elif margin < MIN_MARGIN:
        verdict = "uncertain"
    else:
        verdict = "mismatch"
    return LanguageCheck(declared, detected, score, margin, verdict)
