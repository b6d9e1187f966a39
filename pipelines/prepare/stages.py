"""The stages every sample goes through, built once and walked by every engine.

A stage is a plain function ``Sample -> Sample | list[Sample] | Drop`` with a ``name``; it never
imports an engine. ``build_stages`` is the only place the list is assembled; ``apply_stages`` is the
only place it is walked (engines call it through ``units.UnitProcessor``). Text normalization
(stage ``normalize``: ``normalize_columns`` in ``pipelines/ingest/text/``) runs earlier, at ingest, so
that the manifest holds the raw and the normalized transcript side by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from schemas.model import DatasetSchema
from tag_builder.tasks import get_task
from tag_builder.views import TagError, View, build_view, compose_target

from pipelines.core import audio, sources
from pipelines.core.config import root_key
from pipelines.core.record import Drop, Record
from pipelines.prepare import dnsmos, language_check, quality
from pipelines.prepare.filters import STAGE as QUALITY_STAGE, make_quality_filter
from pipelines.prepare.language_check import LanguageCheck
from pipelines.prepare.timestamps import LongForm, long_form_stages


@dataclass(frozen=True)
class Sample:
    """A record on its way to a shard: the task views and the encoded audio once stages add them."""

    record: Record
    views: tuple[View, ...] = ()
    flac: bytes = b""
    frames: int = 0  # 16 kHz samples in ``flac``
    language_checks: tuple[tuple[str, LanguageCheck], ...] = ()  # (field, verdict) per checked text
    flags: tuple[str, ...] = ()  # kept but worth a look: "silent" (every sample is zero)
    quality: dict = field(default_factory=dict)  # metric -> rounded value (quality.measure), set by the audio stage
    pcm_sha256: str = ""  # of the 16 kHz int16 samples in ``flac`` (``audio.pcm_sha256``)

    @property
    def detected_language(self) -> str | None:
        """The language langid heard in the transcript (None when it was not checked)."""
        return next((check.detected for name, check in self.language_checks if name == "text"), None)

    @property
    def seconds(self) -> float:
        return self.frames / audio.TARGET_RATE


StageResult = Sample | list[Sample] | Drop


@dataclass(frozen=True)
class Stage:
    name: str
    fn: Callable[[Sample], StageResult]

    def __call__(self, sample: Sample) -> StageResult:
        return self.fn(sample)


def _drop(stage: str, sample: Sample, reason: str, detail: str) -> Drop:
    record = sample.record
    return Drop(stage, reason, detail, dataset=record.dataset, key=record.key, source=record.source)


def check_language(sample: Sample) -> StageResult:
    """langid on the transcript and the translation: a confident mismatch is quarantined, short or
    uncertain texts pass with a flag (``language_check`` module)."""
    record = sample.record
    checks = []
    for name, value, declared in (
        ("text", record.text, record.text_language),
        ("translation", record.translation, record.translation_language),
    ):
        if not value or not declared:
            continue
        result = language_check.check(value, declared)
        if result is None:
            continue
        if result.verdict == "mismatch":
            return _drop(
                "check_language",
                sample,
                "language_mismatch",
                f"{record.source}: {name} reads as {result.detected} (langid score {result.score}, "
                f"margin {result.margin} nats/letter), "
                f"not the declared {declared}: {value[:80]!r}",
            )
        checks.append((name, result))
    return replace(sample, language_checks=tuple(checks)) if checks else sample


def _targets(record: Record, source: str, task=None) -> list[str]:
    if source == "fields":  # composed by the task from several labels (note analysis, SLU, speaker traits)
        return [compose_target(task, record.labels)]
    if source == "text":
        return [record.text] if record.text is not None else []
    if source == "translation":
        return [record.translation] if record.translation else []
    if source == "captions":
        return list(record.captions)
    if source.startswith("labels."):
        name = source[len("labels.") :]
        return [record.labels[name]] if name in record.labels else []
    raise ValueError(f"unknown target source {source!r}: use text, captions or labels.<name>")


def make_tagger(schemas: dict[str, DatasetSchema]) -> Callable[[Sample], StageResult]:
    """The tag stage: one view per task binding of the record's dataset (and per caption)."""
    bindings = {
        name: [(get_task(b.task), b.source) for b in schema.tasks] for name, schema in schemas.items()
    }

    def tag(sample: Sample) -> StageResult:
        record = sample.record
        views = []
        for task, source in bindings[record.dataset]:
            try:
                targets = _targets(record, source or task.source, task)
            except TagError as exc:
                return _drop("tag", sample, exc.reason, f"{record.source}: {exc.detail}")
            if not targets:
                return _drop("tag", sample, "missing_target", f"{record.source}: no {source or task.source} for task {task.name}")
            question = _targets(record, task.question)[0] if task.question and _targets(record, task.question) else None
            for target in targets:
                try:
                    views.append(
                        build_view(
                            task,
                            target,
                            audio_language=record.language,
                            text_language=getattr(record, task.target_language),
                            text_form=record.text_form,
                            question=question,
                        )
                    )
                except TagError as exc:
                    return _drop("tag", sample, exc.reason, f"{record.source}: {exc.detail}")
        return replace(sample, views=tuple(views))

    return tag


def audio_location(roots: dict[str, str], record: Record) -> str:
    """Where the audio stage reads a record's audio: a path, or an s3:// URI."""
    return sources.join(roots[root_key(record.dataset, record.audio_root)], record.audio)


def make_audio_stage(
    max_seconds: float, roots: dict[str, str], min_seconds: float = 0.0, with_dnsmos: bool = False,
) -> Callable[[Sample], StageResult]:
    """Decode, measure (``quality``; DNSMOS of speech clips too ``with_dnsmos``), encode FLAC."""
    if with_dnsmos:
        dnsmos.check_installed()

    def prepare_audio(sample: Sample) -> StageResult:
        record = sample.record
        path = audio_location(roots, record)
        try:
            with sources.local_copy(path) as local:  # fetched from the bucket for s3:// roots
                clip = audio.load(local, record.offset, record.duration, record.channel, max_seconds, min_seconds)
        except audio.AudioError as exc:
            return _drop("audio", sample, exc.reason, exc.detail.replace(local, path) if local != path else exc.detail)
        speech = record.language is not None
        measured = quality.measure(clip.samples, speech=speech, text=record.text)
        # all-zero audio is kept (a corpus may mean silence: a "no speech" label) but flagged: counted
        # per dataset in the statistics and marked in the sample's JSON, so a broken recorder shows up
        # (a clip whose rounded peak is not 0 has a sample above 0.00005 of full scale: only the others are read)
        silent = not measured.get("peak") and not clip.samples.any()
        flags = sample.flags + (("silent",) if silent else ())
        if with_dnsmos and speech:
            measured.update(dnsmos.measure(clip.samples))
        return replace(sample, flac=audio.encode_flac(clip), frames=len(clip.samples), flags=flags, quality=measured,
                       pcm_sha256=audio.pcm_sha256(clip))

    return prepare_audio


def build_stages(
    schemas: dict[str, DatasetSchema], max_seconds: float, roots: dict[str, str], min_seconds: float = 0.0,
    long_form: LongForm | None = None, filters: dict | None = None, with_dnsmos: bool = False,
) -> list[Stage]:
    """Cheap stages first, so a record refused for its text never costs a decode.

    ``long_form`` (docs/long-form.md): the SRWT stage, adding word-timestamp views after the audio stage.
    ``filters`` (``RunConfig.filters``, docs/quality.md): the quality stage, right after the audio stage
    has measured the clip (before any alignment is spent on it); none without rules. ``with_dnsmos``:
    the audio stage adds DNSMOS scores (``DnsmosMissing`` now, when the extra is not installed).
    """
    after = long_form_stages(long_form or LongForm())
    return [
        Stage("tag", make_tagger(schemas)),
        Stage("check_language", check_language),
        Stage("audio", make_audio_stage(max_seconds, roots, min_seconds, with_dnsmos)),
        *([Stage(QUALITY_STAGE, make_quality_filter(filters))] if filters else []),
        *[Stage(name, fn) for name, fn in after],
    ]


def apply_stages(stages: list[Stage], sample: Sample, start: int = 0) -> Iterator[Sample | Drop]:
    """Run ``sample`` through ``stages[start:]``; yields finished samples and drops (fan-out aware)."""
    for index in range(start, len(stages)):
        result = stages[index](sample)
        if isinstance(result, Drop):
            yield result
            return
        if isinstance(result, list):
            for item in result:
                yield from apply_stages(stages, item, index + 1)
            return
        sample = result
    yield sample
