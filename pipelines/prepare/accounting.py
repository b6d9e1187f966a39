"""Counters that add up with ``+``: gathered per shard while it is written, merged once at the end.

Beside the counters, each shard keeps a compact list of its samples' audio digests (``audio_entry``),
so audio written twice is found at finalize without reading a shard (``finalize/repeats.py``)."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Iterable

from tag_builder.tasks import REGISTRY
from tag_builder.views import tag_sequence

from pipelines.prepare.quality import HISTOGRAM_EDGES


class Counters:
    """Named families of counters, e.g. ``samples_by_dataset['clotho'] += 1``. JSON-serialisable."""

    def __init__(self, data: dict[str, dict[str, float]] | None = None):
        self.data: dict[str, Counter] = {k: Counter(v) for k, v in (data or {}).items()}

    def add(self, family: str, name: str, amount: float = 1) -> None:
        self.data.setdefault(family, Counter())[name] += amount

    def __add__(self, other: "Counters") -> "Counters":
        merged = Counters(self.to_dict())
        for family, counter in other.data.items():
            merged.data.setdefault(family, Counter()).update(counter)
        return merged

    def __iadd__(self, other: "Counters") -> "Counters":
        """Add ``other`` in place: merging many shards stays linear in their size."""
        for family, counter in other.data.items():
            self.data.setdefault(family, Counter()).update(counter)
        return self

    def get(self, family: str) -> dict[str, float]:
        return dict(self.data.get(family, {}))

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            family: {name: _tidy(value) for name, value in sorted(counter.items())}
            for family, counter in sorted(self.data.items())
        }

    @staticmethod
    def merge(items: Iterable["Counters"]) -> "Counters":
        total = Counters()
        for item in items:
            total += item
        return total


def _tidy(value: float) -> float:
    return round(value, 3) if isinstance(value, float) else value


#: Upper bucket edges of the duration histogram, in seconds; buckets are [low, high), the last "30+".
DURATION_EDGES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
#: Upper bucket edges of the target-length histogram, in characters (language-neutral).
TARGET_LENGTH_EDGES = (10, 20, 50, 100, 200, 500, 1000)
#: Audio language of a record that declares none (sound, music: the prompt says <|unknown|>).
NO_SPEECH = "none"
#: Licence of a record that declares none.
NO_LICENSE = "unknown"
#: Separator of the parts of a counter name ("clotho/evaluation"); no dataset, task or role holds it.
SEP = "/"


def bucket_names(edges: tuple[int, ...]) -> list[str]:
    """The bucket names of a histogram, in order: "0-1", "1-2", ..., "30+"."""
    lows = (0, *edges)
    return [f"{low}-{high}" for low, high in zip(lows, edges)] + [f"{edges[-1]}+"]


def interval_names(edges: tuple[float, ...]) -> list[str]:
    """The bucket names of a histogram whose values may lie below its first edge (negative levels,
    fractions): "<-60", "[-60,-50)", ..., ">=-10"."""
    inner = [f"[{low:g},{high:g})" for low, high in zip(edges, edges[1:])]
    return [f"<{edges[0]:g}", *inner, f">={edges[-1]:g}"]


@lru_cache(maxsize=32)
def _bucket_names(edges: tuple[float, ...], intervals: bool = False) -> tuple[str, ...]:
    return tuple(interval_names(edges) if intervals else bucket_names(edges))


def bucket(value: float, edges: tuple[float, ...], intervals: bool = False) -> str:
    """The bucket of ``value``: named by ``bucket_names``, or by ``interval_names`` with ``intervals``."""
    names = _bucket_names(edges, intervals)  # counted for every sample: the names are made once
    for name, high in zip(names, edges):
        if value < high:
            return name
    return names[-1]


def is_label_task(task: str) -> bool:
    """A classification task: its target is a bare label (scene, emotion, ...), so labels are counted."""
    entry = REGISTRY.get(task)
    return entry is not None and entry.source.startswith("labels.")


def target_languages(sample) -> list[str]:
    """The languages of the sample's targets (slot L of its prompts): the transcript's, a translation's..."""
    record = sample.record
    found = []
    for view in sample.views:
        field = getattr(REGISTRY.get(view.task), "target_language", "text_language")
        found.append(getattr(record, field, None) or record.text_language)
    return list(dict.fromkeys(found)) or [record.text_language]


def count_sample(counters: Counters, sample) -> None:
    """Add one written sample (a ``stages.Sample`` with views and audio) to its shard's statistics.

    Family names are stable snake_case ``<what>_by_<key>``; compound keys join their parts with
    ``/`` (dataset or task or role first, as none of those hold a ``/``). ``audioprep stats`` reads them.
    """
    record, seconds = sample.record, sample.seconds
    dataset = record.dataset
    counters.add("samples_by_dataset", dataset)
    if not record.copy:  # repeats made by corpus weighting are samples, not more input records
        counters.add("records_by_dataset", dataset)
    counters.add("seconds_by_dataset", dataset, seconds)
    counters.add("samples_by_split", f"{dataset}{SEP}{record.split}")
    counters.add("seconds_by_split", f"{dataset}{SEP}{record.split}", seconds)
    counters.add("samples_by_role", f"{record.role}{SEP}{dataset}{SEP}{record.split}")
    counters.add("samples_by_audio_language", record.language or NO_SPEECH)
    counters.add("seconds_by_audio_language", record.language or NO_SPEECH, seconds)
    for language in target_languages(sample):
        counters.add("samples_by_text_language", language)
        counters.add("seconds_by_text_language", language, seconds)
    counters.add("samples_by_license", f"{dataset}{SEP}{record.license or NO_LICENSE}")
    counters.add("seconds_by_license", f"{dataset}{SEP}{record.license or NO_LICENSE}", seconds)
    counters.add("samples_by_duration", f"{dataset}{SEP}{bucket(seconds, DURATION_EDGES)}")
    detected = getattr(sample, "detected_language", None)  # what language identification heard, if it ran
    if detected:
        counters.add("samples_by_language_check", SEP.join((dataset, record.text_language, detected)))
    for name, check in getattr(sample, "language_checks", ()):  # verdicts: match, short, uncertain
        counters.add("samples_by_language_verdict", SEP.join((dataset, name, check.verdict)))
    for flag in getattr(sample, "flags", ()):  # kept but worth a look: "silent" (all-zero audio)
        counters.add("samples_by_flag", f"{dataset}{SEP}{flag}")
    for metric, value in getattr(sample, "quality", {}).items():  # measured on the clip (docs/quality.md)
        if value is not None:
            counters.add("samples_by_quality", SEP.join((dataset, metric, bucket(value, HISTOGRAM_EDGES[metric], True))))
    for task in dict.fromkeys(view.task for view in sample.views):
        counters.add("samples_by_task", task)
        counters.add("audio_seconds_by_task", task, seconds)
    for view in sample.views:  # tag_sequence: a question prompt counts without its question text
        counters.add("views_by_task", view.task)
        counters.add("seconds_by_task", view.task, seconds)
        counters.add("views_by_prompt", tag_sequence(view.prompt))
        counters.add("views_by_task_prompt", f"{view.task}{SEP}{tag_sequence(view.prompt)}")
        counters.add("views_by_target_length", f"{view.task}{SEP}{bucket(len(view.target), TARGET_LENGTH_EDGES)}")
        counters.add("target_chars_by_task", view.task, len(view.target))
        if is_label_task(view.task):
            counters.add("views_by_label", f"{view.task}{SEP}{view.target}")


#: hex digits of a sample's PCM sha256 kept in its shard's audio list (128 bits: no chance collision)
AUDIO_DIGEST_HEX = 32


def audio_entry(sample) -> list[str] | None:
    """``[PCM digest, dataset, key]`` of a written sample for its shard's audio list; None for a repeat
    made by corpus weighting (the same record again, not audio found twice) or a sample without a digest."""
    record = sample.record
    digest = getattr(sample, "pcm_sha256", "")
    if record.copy or not digest:
        return None
    return [digest[:AUDIO_DIGEST_HEX], record.dataset, record.key]
