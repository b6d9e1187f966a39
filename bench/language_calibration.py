"""Precision and recall of the language check on its held-out calibration set.

``tests/data/language_calibration/<lang>.tsv`` holds real sentences in each token language (its
README.md says where each comes from). Every sentence is checked in three forms: as written; as an
all-caps corpus reads once lower-cased, without punctuation (``spoken``); and spelled in plain
ASCII letters (``folded``; Chinese, Japanese and Korean as spoken: German umlauts as ae, oe, ue and ss, other accents dropped, the way the
issue's ``UEBER DEN FAULEN HUND`` is written). Each form is declared

* as its own language: it must pass (``match``, ``short`` or ``uncertain``);
* as a mislabelled corpus would declare it: every other language as English, English and Japanese
  as Chinese. Sentences of ten words or more (Chinese and Japanese: fifteen letters) must be
  quarantined (``mismatch``); shorter ones are counted apart.

Recall is the share of long mislabelled sentences quarantined; precision the share of quarantined
checks (of any length) that were mislabelled. The English transcripts of ``../shared/corpora``,
when present, are checked as declared too. Prints the tables docs/text.md quotes:

    python bench/language_calibration.py
"""
from __future__ import annotations

import csv
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from pipelines.prepare.language_check import LONG_MARGIN, LONG_WORDS, MIN_MARGIN, check, letters, words  # noqa: E402

CALIBRATION = PROJECT / "tests" / "data" / "language_calibration"
SHARED_CORPORA = PROJECT.parent / "shared" / "corpora"
FORMS = ("written", "spoken", "folded")
#: languages written without spaces between words: length in letters, fifteen for ten words
UNSPACED = ("zh", "ja")
LONG_LETTERS = 15
_GERMAN_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


def sentences(part: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """Language -> (source, sentence) for every file of the calibration set; only the rows of
    ``part`` (``tuning``: the passages the thresholds were chosen on; ``held-out``: passages added
    after) when given."""
    found = {}
    for path in sorted(CALIBRATION.glob("*.tsv")):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = csv.DictReader(handle, delimiter="\t")
            found[path.stem] = [(row["source"], row["text"]) for row in rows if part in (None, row["part"])]
    return found


def in_form(text: str, form: str, language: str) -> str:
    """``text`` as written (quotes straightened, as normalization does), spoken or folded."""
    text = text.translate(_QUOTES)
    if form == "written":
        return text
    gap = "" if language in UNSPACED else " "  # normalization leaves no space between CJK characters
    text = " ".join(re.sub(r"[^\w\s']", gap, text.lower()).split())
    if form == "folded" and language not in (*UNSPACED, "ko"):
        text = text.translate(_GERMAN_ASCII) if language == "de" else text
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text


def is_long(text: str, language: str) -> bool:
    """Ten words or more; fifteen letters or more in Chinese and Japanese."""
    return letters(text) >= LONG_LETTERS if language in UNSPACED else len(words(text)) >= LONG_WORDS


def mislabels(language: str) -> tuple[str, ...]:
    """The wrong declarations a sentence in ``language`` is checked against."""
    return (() if language == "en" else ("en",)) + (("zh",) if language in ("en", "ja") else ())


@dataclass
class Tally:
    long: int = 0
    long_caught: int = 0
    short: int = 0
    short_caught: int = 0
    own: int = 0
    own_passed: int = 0
    missed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: (margin, text) of the long mislabelled sentences quarantined by the smallest margin
    closest: list[tuple[float, str]] = field(default_factory=list)
    #: own-language sentences whose margin alone would quarantine them (the evidence sits in a few words)
    saved: list[str] = field(default_factory=list)


def evaluate(found: dict[str, list[tuple[str, str]]]) -> dict[tuple[str, str, str], Tally]:
    """(language, declared, form) -> counts; declared == language for the own-language checks."""
    tallies: dict[tuple[str, str, str], Tally] = {}
    for language, rows in sorted(found.items()):
        for _, sentence in rows:
            for form in FORMS:
                text = in_form(sentence, form, language)
                own = tallies.setdefault((language, language, form), Tally())
                own.own += 1
                verdict = check(text, language)
                if verdict.verdict == "mismatch":
                    own.refused.append(text)
                else:
                    own.own_passed += 1
                    if verdict.verdict == "uncertain" and _margin_suffices(text, verdict.margin):
                        own.saved.append(text)
                for declared in mislabels(language):
                    tally = tallies.setdefault((language, declared, form), Tally())
                    verdict = check(text, declared)
                    caught = verdict.verdict == "mismatch"
                    if is_long(text, language):
                        tally.long += 1
                        tally.long_caught += caught
                        if caught:
                            tally.closest = sorted([*tally.closest, (verdict.margin, text)])[:1]
                        else:
                            tally.missed.append(text)
                    else:
                        tally.short += 1
                        tally.short_caught += caught
    return tallies


def _margin_suffices(text: str, margin: float) -> bool:
    return margin >= MIN_MARGIN or (len(words(text)) >= LONG_WORDS and margin >= LONG_MARGIN)


def shared_english() -> list[str]:
    """The English transcripts and captions of ../shared/corpora, as the pipeline normalizes them
    (LibriSpeech lower-cased); empty when the folder is absent."""
    texts = []
    for path in sorted((SHARED_CORPORA / "librispeech").rglob("*.trans.txt")):
        texts += [line.split(" ", 1)[1].lower() for line in path.read_text(encoding="utf-8").splitlines() if " " in line]
    for path in sorted((SHARED_CORPORA / "clotho").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            texts += [text for row in csv.reader(handle) for text in row[1:] if row[0] != "file_name"]
    return texts


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary(tallies: dict[tuple[str, str, str], Tally], title: str) -> list[str]:
    """Recall and precision per form."""
    lines = [f"| {title}: form | recall (long) | precision (every quarantine) |", "|---|---|---|"]
    for form in FORMS:
        long = sum(t.long for (_, d, f), t in tallies.items() if f == form)
        caught = sum(t.long_caught for (_, d, f), t in tallies.items() if f == form)
        right = caught + sum(t.short_caught for (_, d, f), t in tallies.items() if f == form)
        wrong = sum(t.own - t.own_passed for (_, d, f), t in tallies.items() if f == form)
        lines.append(f"| {form} | {caught}/{long} ({_percent(caught, long)}) | {right}/{right + wrong} ({_percent(right, right + wrong)}) |")
    return lines


def report(tallies: dict[tuple[str, str, str], Tally], found: dict[str, list[tuple[str, str]]], held_out: dict[tuple[str, str, str], Tally]) -> str:
    lines = ["| sentences | declared | form | long (recall) | shorter, quarantined | own language passes |", "|---|---|---|---|---|---|"]
    for (language, declared, form), tally in sorted(tallies.items()):
        if declared == language:
            continue
        own = tallies[(language, language, form)]
        lines.append(
            f"| {language} | {declared} | {form} | {tally.long_caught}/{tally.long} ({_percent(tally.long_caught, tally.long)}) "
            f"| {tally.short_caught}/{tally.short} | {own.own_passed}/{own.own} |"
        )
    english = tallies.get(("en", "en", "written"))
    if english:
        lines.append(f"| en | en | written | - | - | {english.own_passed}/{english.own} |")
    lines += ["", *summary(tallies, "all"), "", *summary(held_out, "held-out passages only")]
    sizes = ", ".join(
        f"{language} {sum(is_long(text, language) for _, text in rows)}/{len(rows)}" for language, rows in sorted(found.items())
    )
    lines += ["", f"long/all sentences per language: {sizes}"]
    shared = shared_english()
    if shared:
        passed = sum(check(text, "en").verdict != "mismatch" for text in shared)
        lines.append(f"English transcripts and captions of ../shared/corpora: {passed}/{len(shared)} pass")
    closest = min(((m, key, text) for key, tally in tallies.items() for m, text in tally.closest), default=None)
    if closest:
        lines.append(f"smallest margin quarantined: {closest[0]} nats/letter ({'/'.join(closest[1])}: {closest[2]})")
    missed = [(key, text) for key, tally in sorted(tallies.items()) for text in tally.missed]
    refused = [(key, text) for key, tally in sorted(tallies.items()) for text in tally.refused]
    saved = [(key, text) for key, tally in sorted(tallies.items()) for text in tally.saved]
    for title, items in (
        ("missed", missed),
        ("quarantined in their own language", refused),
        ("passed in their own language although their margin alone would quarantine them", saved),
    ):
        if items:
            lines += ["", f"{title}:"] + [f"  {'/'.join(key)}: {text}" for key, text in items]
    return "\n".join(lines)


def main() -> int:
    found = sentences()
    print(report(evaluate(found), found, evaluate(sentences("held-out"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
