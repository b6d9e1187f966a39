"""Run the steps: one text (``normalize_text``, ``explain``) or a batch of records by column (``normalize_columns``).

``normalize_columns`` is the ``normalize`` stage. It runs at ingest, so the manifest holds the raw
transcript (``text_raw``) beside the normalized one (``text``) and a record refused for its text is
quarantined before planning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from schemas.text import Normalize

from pipelines.core.record import Drop, Record, record_columns, records_of

from pipelines.ingest.text.steps import LABEL_STEPS, Step, steps_for

STAGE = "normalize"


@dataclass(frozen=True)
class Traced:
    step: str
    text: str  # the text after the step
    changed: bool
    note: str = ""  # a check's refusal or a language decision


@dataclass(frozen=True)
class Normalized:
    text: str
    language: str  # the text language after the steps (zh may become zh_tr)
    reason: str | None = None  # set when the text is refused
    detail: str = ""
    trace: tuple[Traced, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return self.reason is None


def _run(
    texts: list[str], language: str, steps: tuple[Step, ...], traces: list[list[Traced]] | None = None
) -> tuple[list[str], list[str] | None, dict[int, Normalized]]:
    """Every text of ``texts`` (all in ``language``) through ``steps``, step by step over the whole
    list, so a batch of transcripts pays each step's dispatch once. Returns the texts after the
    steps, the languages a language step decided (None without one), and the refused texts by
    index (each with the text and language it had when refused). ``traces``: one list per text,
    for each step's effect."""
    languages: list[str] | None = None
    refused: dict[int, Normalized] = {}
    for step in steps:
        if step.rewrite is not None:
            after = list(map(step.rewrite, texts))
            if traces is not None:
                for i, trace in enumerate(traces):
                    if i not in refused:
                        trace.append(Traced(step.name, after[i], after[i] != texts[i]))
            texts = after
        elif step.check is not None:
            problems = list(map(step.check, texts))
            if traces is None and not any(problems):
                continue
            for i, problem in enumerate(problems):
                if i in refused:
                    continue
                if traces is not None:
                    outcome = f"refused: {problem[0]}: {problem[1]}" if problem else "passed"
                    traces[i].append(Traced(step.name, texts[i], False, outcome))
                if problem:
                    refused[i] = Normalized(texts[i], language if languages is None else languages[i], problem[0], problem[1])
        elif step.language is not None:
            languages = list(map(step.language, texts))
            if traces is not None:
                for i, trace in enumerate(traces):
                    if i not in refused:
                        trace.append(Traced(step.name, texts[i], False, f"text language {languages[i]}"))
    return texts, languages, refused


def run_steps(text: str, language: str, steps: tuple[Step, ...], trace: bool = False) -> Normalized:
    traces = [[]] if trace else None
    texts, languages, refused = _run([text], language, steps, traces)
    result = refused.get(0) or Normalized(texts[0], language if languages is None else languages[0])
    return Normalized(result.text, result.language, result.reason, result.detail, tuple(traces[0])) if trace else result


def normalize_text(text: str, language: str, rules: Normalize | None = None) -> Normalized:
    """The normalized text and its language, or the reason it is refused."""
    return run_steps(text, language, steps_for(language, rules or Normalize()))


def explain(text: str, language: str, rules: Normalize | None = None) -> Normalized:
    """Like ``normalize_text``, with the text after every step in ``trace``."""
    return run_steps(text, language, steps_for(language, rules or Normalize()), trace=True)


def _normalize_column(
    values: list[str | None], languages: list[str], rules: Normalize | None
) -> tuple[list[str | None], list[str], dict[int, Normalized]]:
    """A column of texts (None: no text), each in its row's language, normalized (``rules`` None:
    the label steps): the new texts, the languages after the steps, the refused rows. The texts of
    one language go through its steps together."""
    if None not in values and len(set(languages)) == 1:
        groups: dict[str, list[int] | range] = {languages[0]: range(len(values))} if values else {}
    else:
        groups = {}
        for i, (value, language) in enumerate(zip(values, languages)):
            if value is not None:
                groups.setdefault(language, []).append(i)
    values, languages = list(values), list(languages)
    refused: dict[int, Normalized] = {}
    for language, rows in groups.items():
        steps = LABEL_STEPS if rules is None else steps_for(language, rules)
        whole = isinstance(rows, range)
        texts, decided, failed = _run(values if whole else [values[i] for i in rows], language, steps)
        if whole:
            values, languages = texts, decided or languages
        else:
            for j, i in enumerate(rows):
                values[i] = texts[j]
                if decided:
                    languages[i] = decided[j]
        refused.update((rows[j], result) for j, result in failed.items())
    return values, languages, refused


def normalize_columns(columns: dict[str, list], rules: Normalize) -> dict[int, tuple[str, Normalized]]:
    """The ``normalize`` stage over a batch of records held by column (``record_columns``' shape):
    transcript, translation and captions by their language's steps (``text_raw`` keeps the transcript
    as read), labels by the basic steps only. The columns are replaced by the normalized ones; the
    refused rows are returned, row -> (what was refused, the result saying why), the first refusal
    of a row in the order transcript, translation, captions."""
    refused: dict[int, tuple[str, Normalized]] = {}
    texts = columns["text"]
    if any(text is not None for text in texts):
        columns["text_raw"] = [text if text is not None else raw for text, raw in zip(texts, columns["text_raw"])]
        columns["text"], columns["text_language"], failed = _normalize_column(texts, columns["text_language"], rules)
        refused.update((row, ("text", result)) for row, result in failed.items())
    translations, targets = columns["translation"], columns["translation_language"]
    wanted = [t if t is not None and target else None for t, target in zip(translations, targets)]
    if any(text is not None for text in wanted):
        normalized, decided, failed = _normalize_column(wanted, [target or "" for target in targets], rules)
        columns["translation"] = [n if w is not None else t for n, w, t in zip(normalized, wanted, translations)]
        columns["translation_language"] = [d if w is not None else t for d, w, t in zip(decided, wanted, targets)]
        for row, result in failed.items():
            refused.setdefault(row, ("translation", result))
    languages = columns["text_language"]
    for name, rules_of in (("captions", rules), ("labels", None)):
        rows = columns[name]
        places = [(i, j) for i, row in enumerate(rows) if row for j in (range(len(row)) if name == "captions" else row)]
        if not places:
            continue
        flat = [rows[i][j] for i, j in places]
        normalized, _, failed = _normalize_column(flat, [languages[i] for i, _ in places], rules_of)
        rebuilt = [list(row) if name == "captions" else dict(row) for row in rows]
        for (i, j), text in zip(places, normalized):
            rebuilt[i][j] = text
        columns[name] = [tuple(row) for row in rebuilt] if name == "captions" else rebuilt
        for k, result in sorted(failed.items()):  # only captions can be refused: labels get no checks
            refused.setdefault(places[k][0], (f"captions[{places[k][1]}]", result))
    return refused


def refusal(what: str, result: Normalized, dataset: str, key: str, source: str) -> Drop:
    """The drop of a record whose ``what`` (text, translation, captions[i]) normalization refused."""
    return Drop(STAGE, result.reason, f"{source}: {what}: {result.detail}", dataset=dataset, key=key, source=source)


def normalize_record(record: Record, rules: Normalize) -> Record | Drop:
    """The ``normalize`` stage for one record (``normalize_columns`` over a batch of one)."""
    columns = record_columns([record])
    refused = normalize_columns(columns, rules)
    if refused:
        return refusal(*refused[0], record.dataset, record.key, record.source)
    return records_of(columns)[0]
