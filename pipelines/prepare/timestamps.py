"""The SRWT stage: a second task view of an ASR window, its transcript with word timestamps.

Runs after the audio stage, for the datasets a run turns SRWT on for (``--srwt``, ``srwt: true``).
Word times come from the corpus (``Record.words``, read at ingest and rebased to the window) or,
when it ships none, from the aligner of the transcript's language (``pipelines.prepare.align``), run on the
window's decoded audio. A record whose words cannot be timed is quarantined with the reason, never
given guessed times. The target is built by ``pipelines.prepare.srwt`` (spec section 5).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from tag_builder.tasks import get_task
from tag_builder.views import TagError, build_view

from pipelines.core import audio
from pipelines.core.record import Drop
from pipelines.prepare.align import AlignError, Aligners
from pipelines.prepare.srwt import SIL_THRESHOLD, SrwtError, srwt_target

STAGE = "srwt"
#: Corpus word times may end this far past the audio (rounding in their files) before being refused.
SLACK = 0.05


def srwt_capable(schema, aligner_languages: frozenset[str]) -> bool:
    """A speech corpus SRWT can be turned on for: it ships word times, or its language has an aligner."""
    if schema.language is None and schema.record.language is None:
        return False
    has_text = any(b.task == "asr" for b in schema.tasks)  # not asr_overlap: one timeline per speaker
    return has_text and (schema.words is not None or schema.text_language in aligner_languages)


def check_aligners(config, schemas: dict) -> None:
    """Before any work: AlignError naming the dataset and the install hint when a dataset with SRWT on
    ships no word times and its language's aligner cannot be loaded (otherwise every record would be
    decoded, then quarantined)."""
    aligners = Aligners(dict(config.ctc_models))
    for spec in config.datasets:
        schema = schemas[spec.name]
        if not spec.srwt or schema.words is not None:
            continue
        aligner = aligners.get(schema.text_language)
        if aligner is None:
            continue  # its records are quarantined one by one (no_aligner): a language with no aligner at all
        try:
            aligner.check()
        except AlignError as exc:
            raise AlignError(exc.reason, f"--srwt for {spec.name} ({schema.text_language}): {exc.detail}") from None


def make_srwt_stage(enabled: frozenset[str], aligners: Aligners, sil_threshold: float = SIL_THRESHOLD) -> Callable:
    task = get_task("srwt")

    def drop(sample, reason: str, detail: str) -> Drop:
        record = sample.record
        return Drop(STAGE, reason, f"{record.source}: {detail}", dataset=record.dataset, key=record.key, source=record.source)

    def srwt(sample):
        record = sample.record
        if record.dataset not in enabled or not record.text:
            return sample
        seconds = sample.seconds
        words = record.words
        if words:
            late = [w for w, _, end in words if end > seconds + SLACK]
            if late:
                return drop(sample, "words_outside_audio", f"word times past the end of the {seconds:.2f} s audio: {late[:5]}")
        else:
            aligner = aligners.get(record.text_language)
            if aligner is None:
                return drop(sample, "no_aligner", f"no word times and no aligner for language {record.text_language!r}")
            samples, _, _ = audio.decode_flac(sample.flac)
            try:
                words = aligner.align(samples, record.text, record.text_language)
            except AlignError as exc:
                return drop(sample, exc.reason, exc.detail)
        try:
            target = srwt_target(record.text, record.text_language, words, seconds, sil_threshold)
            view = build_view(task, target, audio_language=record.language, text_language=record.text_language, text_form=None)
        except (SrwtError, TagError) as exc:
            return drop(sample, exc.reason, exc.detail)
        return replace(sample, views=(*sample.views, view))

    return srwt


@dataclass(frozen=True)
class LongForm:
    """What a run asks of the long-form stages: SRWT views for these datasets, the pause threshold,
    CTC alignment models by language (``pipelines.prepare.align.CtcAligner``)."""

    srwt: frozenset[str] = frozenset()
    sil_threshold: float = SIL_THRESHOLD
    ctc_models: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_config(cls, config) -> "LongForm":
        return cls(
            srwt=frozenset(spec.name for spec in config.datasets if spec.srwt),
            sil_threshold=config.sil_threshold,
            ctc_models=tuple(sorted(config.ctc_models.items())),
        )


def long_form_stages(options: LongForm) -> list[tuple[str, Callable]]:
    """The stages after the audio stage, as (name, function) pairs: SRWT when the run asks for it."""
    if not options.srwt:
        return []
    return [(STAGE, make_srwt_stage(options.srwt, Aligners(dict(options.ctc_models)), options.sil_threshold))]
