"""Windows of at most 30 s, decided from the manifest before any audio is decoded (docs/long-form.md).

Qwen-Audio hears at most 30 s per sample. Two kinds of long recording are cut here, at ingest, over
the stream of records a schema yields (``pack_windows``):

* a recording with segment annotations (records with an ``offset`` and a ``duration`` in the same
  audio file, listed consecutively as corpus manifests list them) becomes windows by packing
  consecutive segments: a window never cuts a segment (nor, so, a word); a gap between segments
  either closes the window (``gaps: split``, gaps longer than ``max_gap``) or stays inside it as
  silence (``gaps: silence``: ``<|sil|>`` in SRWT targets); a segment longer than the limit is
  quarantined with its length (``segment_too_long``), never truncated; a gap that holds a segment
  dropped at ingest (an excluded row, an empty transcript: a ``Drop`` with its span) always closes the
  window, whatever the policy, so no window (nor an SRWT ``<|sil|>``) holds untranscribed speech;
* a whole-file record longer than the limit (sound, music) is cut into fixed windows with its
  labels kept (``long_audio: fixed``), or left to the audio stage, which refuses it with its length
  (``long_audio: refuse``, the default). A record with a transcript is never cut blindly
  (``cannot_cut_transcript``). Speech without segments (and without a transcript) is cut at pauses
  found by a voice-activity detector (``long_audio: vad``, ``pipelines.ingest.vad``): the one policy that
  decodes audio at ingest, once per long recording.

Window keys are ``{recording key}-w{start in centiseconds}`` (``keys.window_key``): stable across
runs. Everything here is a pure function of the records, so every engine gets the same windows.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

from schemas.longform import Windows

from pipelines.core.keys import sample_key, window_key
from pipelines.core.record import Drop, Record

STAGE = "window"
#: Languages written without spaces between words: packed transcripts are joined without one.
UNSPACED_LANGUAGES = frozenset({"zh", "zh_tr", "ja"})
#: Float slack when comparing spans (seconds): corpus times are written to 0.01 s or finer.
EPSILON = 1e-6


def _drop(record: Record, reason: str, detail: str) -> Drop:
    return Drop(STAGE, reason, f"{record.source}: {detail}", dataset=record.dataset, key=record.key, source=record.source)


def recording_key(record: Record) -> str:
    """The key of the recording a segment belongs to: from its audio path (and channel)."""
    stem = record.audio.rsplit(".", 1)[0] if "." in record.audio.rsplit("/", 1)[-1] else record.audio
    if record.channel is not None:
        stem = f"{stem}-c{record.channel}"
    return sample_key(record.dataset, stem.replace("/", "_"))  # folders joined by "_": no hash needed


def _joiner(language: str) -> str:
    return "" if language in UNSPACED_LANGUAGES else " "


def _join(parts: Iterable[str | None], joiner: str) -> str | None:
    kept = [p for p in parts if p]
    return joiner.join(kept) if kept else None


def _common(values: list) -> object:
    return values[0] if all(v == values[0] for v in values) else None


def make_window(segments: list[Record]) -> Record:
    """One window of consecutive segments of one recording: text joined, word times rebased."""
    first, last = segments[0], segments[-1]
    start = first.offset
    end = max(s.offset + s.duration for s in segments)
    joiner = _joiner(first.text_language)
    words = tuple(
        (word, round(s.offset - start + a, 6), round(s.offset - start + b, 6)) for s in segments for word, a, b in s.words
    ) if all(s.words or not s.text for s in segments) else ()  # partly timed: the aligner times the whole window
    meta = {k: v for k, v in first.meta.items() if all(s.meta.get(k) == v for s in segments)}
    meta["segments"] = ",".join(s.key for s in segments) if len(segments) <= 8 else f"{first.key}..{last.key} ({len(segments)})"
    return first.replace(
        key=window_key(recording_key(first), start),
        offset=start,
        duration=round(end - start, 6),
        seconds=round(end - start, 6),
        text=_join((s.text for s in segments), joiner),
        text_raw=_join((s.text_raw for s in segments), joiner),
        translation=_join((s.translation for s in segments), _joiner(first.translation_language or "")),
        speaker=_common([s.speaker for s in segments]),
        source=first.source if len(segments) == 1 else f"{first.source} .. {last.source}",
        meta=meta,
        words=words,
        spans=tuple((round(s.offset - start, 6), round(s.offset - start + s.duration, 6)) for s in segments),
        origins=tuple(dict.fromkeys(origin for s in segments for origin in s.origins)),
    )


def _holds_dropped(dropped: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether some dropped span (start, end) covers part of the stretch ``start``-``end``."""
    return any(max(a, start) < min(b, end) - EPSILON for a, b in dropped)


def pack(segments: list[Record], policy: Windows, dropped: Iterable[tuple[float, float]] = ()) -> Iterator[Record | Drop]:
    """Windows of the segments of one recording (sorted by start), each at most ``policy.max_seconds``.

    ``dropped``: the spans (start, end) of the recording's segments dropped at ingest (no usable
    transcript): a window closes before a gap that holds one, so no window holds untranscribed speech."""
    limit = policy.max_seconds
    dropped = sorted(dropped)
    window: list[Record] = []
    window_end = 0.0
    starts: set[float] = set()
    for segment in sorted(segments, key=lambda s: (s.offset, s.duration)):
        if segment.duration > limit + EPSILON:
            yield _drop(
                segment, "segment_too_long",
                f"segment of {segment.duration:.2f} s is longer than the {limit:g} s window limit "
                "(never cut: its transcript would not match)",
            )
            continue
        seg_end = segment.offset + segment.duration
        if window:
            gap = segment.offset - window_end
            closes = (
                gap < -EPSILON  # overlaps the window: a new window starts with it
                or (policy.gaps == "split" and gap > policy.max_gap + EPSILON)
                or seg_end - window[0].offset > limit + EPSILON
                or (segment.labels, segment.captions) != (window[0].labels, window[0].captions)  # one label per window
                or _holds_dropped(dropped, window_end, segment.offset)  # untranscribed speech between them
            )
            if closes:
                yield from _emit(window, starts)
                window = []
        if not window:
            window_end = seg_end
        window.append(segment)
        window_end = max(window_end, seg_end)
    if window:
        yield from _emit(window, starts)


def _emit(window: list[Record], starts: set[float]) -> Iterator[Record | Drop]:
    start = round(window[0].offset, 2)
    if start in starts:  # two windows of one recording cannot share a key
        for segment in window:
            detail = f"segment at {segment.offset:.2f} s starts where another window of the recording starts"
            yield _drop(segment, "overlapping_segments", detail)
        return
    starts.add(start)
    yield make_window(window)


def fixed_windows(record: Record, policy: Windows) -> Iterator[Record | Drop]:
    """A whole-file record longer than the limit, cut into fixed windows with its labels kept."""
    if record.text or record.translation:
        detail = f"{record.seconds:.2f} s with a transcript and no segments: cutting it blindly would cut words"
        yield _drop(record, "cannot_cut_transcript", detail)
        return
    size = policy.window_seconds
    count = math.ceil(record.seconds / size - EPSILON)
    base = record.offset
    for index in range(count):
        start = index * size
        length = min(size, record.seconds - start)
        if length < policy.min_seconds - EPSILON:
            break
        yield record.replace(
            key=window_key(record.key, start),
            offset=round(base + start, 6),
            duration=round(length, 6),
            seconds=round(length, 6),
            meta={**record.meta, "window": f"{index + 1}/{count}"},
        )


def _group(record: Record) -> tuple:
    return (record.audio_root, record.audio, record.channel, record.split)


def segment_group(record: Record) -> tuple | None:
    """The recording a segment is packed with (``pack_windows`` gathers consecutive ones), or None
    for a record that is no segment (a whole file, or a repeated copy)."""
    is_segment = record.duration is not None and record.offset is not None and record.copy == 0
    return _group(record) if is_segment else None


def vad_cut(record: Record, policy: Windows, cutter: Callable[[Record], list[tuple[float, float]]]) -> Iterator[Record | Drop]:
    """A whole-file speech record cut at pauses found by the VAD (``cutter``: ``pipelines.ingest.vad``)."""
    from pipelines.core.audio import AudioError
    from pipelines.ingest.vad import VadError

    if record.text or record.translation:
        detail = f"{record.seconds:.2f} s with a transcript and no segments: cutting it at pauses would need word times"
        yield _drop(record, "cannot_cut_transcript", detail)
        return
    try:
        windows = cutter(record)
    except (VadError, AudioError) as exc:
        yield _drop(record, exc.reason, exc.detail)
        return
    for index, (start, end) in enumerate(windows):
        yield record.replace(
            key=window_key(record.key, start),
            offset=round(record.offset + start, 6),
            duration=round(end - start, 6),
            seconds=round(end - start, 6),
            meta={**record.meta, "window": f"{index + 1}/{len(windows)}"},
        )


def pack_windows(
    items: Iterable[Record | Drop],
    policy: Windows | None,
    probe: Callable[[Record], float | None] | None = None,
    cutter: Callable[[Record], list[tuple[float, float]]] | None = None,
) -> Iterator[Record | Drop]:
    """The records of one dataset's stream, long recordings cut into windows (streaming, in order).

    Consecutive segments of one audio file are gathered (a corpus manifest lists a recording's
    segments together); only one recording's segments are held at a time. ``probe`` gives the length
    of a whole-file record whose metadata does not say it (read from the audio header).
    """
    if policy is None:
        yield from items
        return
    group: list[Record] = []
    dropped: dict[tuple, list[tuple[float, float]]] = {}  # (audio root, audio) -> dropped spans, this recording's
    for item in items:
        if isinstance(item, Drop):
            if item.span is not None:
                dropped.setdefault((item.span.audio_root, item.span.audio), []).append(
                    (item.span.offset, item.span.offset + item.span.duration)
                )
            yield item
            continue
        is_segment = segment_group(item) is not None
        if group and (not is_segment or _group(item) != _group(group[0])):
            yield from pack(group, policy, dropped.pop((group[0].audio_root, group[0].audio), ()))
            group = []
        if is_segment:
            if not group:  # a new recording: spans dropped before it are of it, or of no kept segment
                dropped = {key: spans for key, spans in dropped.items() if key == (item.audio_root, item.audio)}
            group.append(item)
        elif policy.long_audio in ("fixed", "vad"):
            if item.seconds is None and probe is not None:
                item = item.replace(seconds=probe(item))
            if item.seconds is None or item.seconds <= policy.max_seconds + EPSILON:
                yield item
            elif policy.long_audio == "fixed":
                yield from fixed_windows(item, policy)
            elif cutter is not None:
                yield from vad_cut(item, policy, cutter)
            else:
                yield item  # no audio to listen to here (a dry run): the audio stage refuses it
        else:
            yield item
    if group:
        yield from pack(group, policy, dropped.pop((group[0].audio_root, group[0].audio), ()))
