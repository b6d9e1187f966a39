"""Windows of at most 30 s: packing segments of long recordings, fixed windows, keys (docs/long-form.md)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.record import Drop, DropSpan, Record
from pipelines.ingest.windows import pack_windows, recording_key
from pipelines.prepare.srwt import srwt_target
from schemas.longform import Windows


def _segment(i: int, offset: float, duration: float, text: str, audio: str = "talks/a.sph", words=()) -> Record:
    return Record(
        dataset="talks", split="train", role="train", key=f"talks-s{i:04d}", audio=audio, offset=offset,
        duration=duration, language="en", text_language="en", text_form="spoken", text=text, text_raw=text.upper(),
        source=f"a.stm:{i + 1}", speaker="spk1", words=tuple(words),
    )


def test_packing_exact_windows():
    segments = [
        _segment(0, 10.0, 12.0, "one two", words=[("one", 0.5, 1.0), ("two", 11.0, 11.5)]),
        _segment(1, 22.5, 6.0, "three", words=[("three", 0.5, 1.0)]),
        _segment(2, 29.0, 5.0, "four", words=[("four", 1.0, 2.0)]),  # 10.0 .. 34.0: 24 s, fits
        _segment(3, 36.0, 2.0, "five"),  # gap of 2 s > max_gap 1 s: split
        _segment(4, 38.5, 31.0, "six"),  # longer than 30 s: quarantined with its length
        _segment(5, 70.0, 20.0, "seven"),
        _segment(6, 90.5, 10.0, "eight"),  # 70.0 .. 100.5 would be 30.5 s: a new window
    ]
    out = list(pack_windows(segments, Windows(max_gap=1.0)))
    windows = [r for r in out if isinstance(r, Record)]
    drops = [d for d in out if isinstance(d, Drop)]
    assert [(w.key, w.offset, w.duration, w.text) for w in windows] == [
        ("talks-talks_a-w0001000", 10.0, 24.0, "one two three four"),
        ("talks-talks_a-w0003600", 36.0, 2.0, "five"),
        ("talks-talks_a-w0007000", 70.0, 20.0, "seven"),
        ("talks-talks_a-w0009050", 90.5, 10.0, "eight"),
    ]
    assert windows[0].spans == ((0.0, 12.0), (12.5, 18.5), (19.0, 24.0))
    assert windows[0].words == (("one", 0.5, 1.0), ("two", 11.0, 11.5), ("three", 13.0, 13.5), ("four", 20.0, 21.0))
    assert windows[0].text_raw == "ONE TWO THREE FOUR"
    assert windows[0].meta["segments"] == "talks-s0000,talks-s0001,talks-s0002"
    assert [(d.stage, d.reason, d.key) for d in drops] == [("window", "segment_too_long", "talks-s0004")]
    assert "31.00 s is longer than the 30 s" in drops[0].detail


def test_a_window_only_partly_timed_by_the_corpus_is_left_to_the_aligner():
    segments = [_segment(0, 0.0, 2.0, "one", words=[("one", 0.1, 0.5)]), _segment(1, 2.2, 2.0, "two")]
    (window,) = pack_windows(segments, Windows())
    assert (window.text, window.words) == ("one two", ())


def test_gaps_kept_as_silence_and_chinese_joined_without_space():
    segments = [_segment(0, 0.0, 4.0, "面条"), _segment(1, 9.0, 3.0, "机")]
    segments = [s.replace(text_language="zh", language="zh") for s in segments]
    (window,) = pack_windows(segments, Windows(gaps="silence"))
    assert (window.text, window.duration, window.spans) == ("面条机", 12.0, ((0.0, 4.0), (9.0, 12.0)))


def test_segments_with_different_labels_are_never_packed_together():
    segments = [_segment(0, 0.0, 2.0, "i am so happy"), _segment(1, 2.2, 2.0, "leave me alone"), _segment(2, 4.3, 1.0, "go")]
    segments = [s.replace(labels={"emotion": e}) for s, e in zip(segments, ("joy", "anger", "anger"))]
    out = list(pack_windows(segments, Windows()))
    assert [(r.offset, r.text, r.labels["emotion"]) for r in out] == [(0.0, "i am so happy", "joy"), (2.2, "leave me alone go", "anger")]


def test_fixed_windows_keep_labels_and_refuse_transcripts():
    clip = Record(dataset="scenes", split="train", role="train", key="scenes-park", audio="park.wav", seconds=65.0,
                  labels={"scene": "park"}, source="park.wav")
    policy = Windows(long_audio="fixed", window_seconds=30.0, min_seconds=6.0)
    out = list(pack_windows([clip], policy))
    assert [(r.key, r.offset, r.duration, r.labels["scene"]) for r in out] == [
        ("scenes-park-w0000000", 0.0, 30.0, "park"),
        ("scenes-park-w0003000", 30.0, 30.0, "park"),
    ]  # the last 5 s are shorter than min_seconds: left out
    out = list(pack_windows([clip], Windows(long_audio="fixed", min_seconds=4.0)))
    assert out[-1].duration == 5.0 and out[-1].key == "scenes-park-w0006000"
    spoken = clip.replace(text="a long talk")
    (drop,) = pack_windows([spoken], policy)
    assert (drop.reason, drop.key) == ("cannot_cut_transcript", "scenes-park")
    short = clip.replace(seconds=12.0)
    assert list(pack_windows([short], policy)) == [short]


def test_keys_stable_and_recording_key_from_audio_path():
    one = recording_key(_segment(0, 0, 1, "x", audio="audio/podcast/P0000/POD01.opus"))
    assert one == recording_key(_segment(5, 3, 1, "y", audio="audio/podcast/P0000/POD01.opus"))
    assert one == "talks-audio_podcast_P0000_POD01"
    first = [r.key for r in pack_windows([_segment(0, 1.234, 2.0, "a"), _segment(1, 3.5, 1.0, "b")], Windows())]
    again = [r.key for r in pack_windows([_segment(0, 1.234, 2.0, "a"), _segment(1, 3.5, 1.0, "b")], Windows())]
    assert first == again == ["talks-talks_a-w0000123"]


segment_lists = st.lists(
    st.tuples(st.floats(0.0, 6.0), st.floats(0.05, 35.0), st.integers(1, 4)), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(segment_lists, st.sampled_from(["split", "silence"]), st.floats(0.0, 3.0), st.floats(5.0, 30.0))
def test_packing_properties(items, gaps, max_gap, limit):
    segments, t, limit = [], 0.0, round(limit, 2)
    for i, (gap, duration, n_words) in enumerate(items):
        t = round(t + gap, 2)
        duration = round(duration, 2)
        words = [(f"w{i}x{j}", round(duration * j / n_words, 3), round(duration * (j + 1) / n_words, 3)) for j in range(n_words)]
        segments.append(_segment(i, t, duration, " ".join(w for w, _, _ in words), words=words))
        t = round(t + duration, 2)
    out = list(pack_windows(segments, Windows(gaps=gaps, max_gap=max_gap, max_seconds=limit)))
    windows = [r for r in out if isinstance(r, Record)]
    drops = [d for d in out if isinstance(d, Drop)]
    # no segment lost: every segment is in exactly one window, or quarantined for its length
    packed = [k for w in windows for k in w.meta["segments"].split(",")] if all(len(w.spans) <= 8 for w in windows) else None
    dropped = {d.key for d in drops}
    assert all(d.reason == "segment_too_long" for d in drops)
    assert dropped == {s.key for s in segments if s.duration > limit}
    if packed is not None:
        assert sorted(packed) == sorted(s.key for s in segments if s.key not in dropped)
    assert sum(len(w.spans) for w in windows) + len(drops) == len(segments)
    for w in windows:
        assert w.duration <= limit + 1e-6  # every window at most the limit
        assert len(set(k.key for k in windows)) == len(windows)
        # no segment cut: each span lies whole inside the window; text rebased: words in order, inside spans
        assert all(0.0 <= a < b <= w.duration + 1e-6 for a, b in w.spans)
        assert w.text.split() == [word for word, _, _ in w.words]
        for word, a, b in w.words:
            assert any(sa - 1e-6 <= a <= b <= sb + 1e-6 for sa, sb in w.spans), (word, a, b, w.spans)
        starts = [a for _, a, _ in w.words]
        assert starts == sorted(starts)
        if gaps == "split":
            assert all(b[0] - a[1] <= max_gap + 1e-6 for a, b in zip(w.spans, w.spans[1:]))
    # the text of all windows is the text of all kept segments, in order
    assert " ".join(w.text for w in windows).split() == [
        word for s in segments if s.key not in dropped for word in s.text.split()
    ]


def _dropped(i: int, offset: float, duration: float, audio: str = "talks/a.sph", reason: str = "not_scored") -> Drop:
    return Drop("ingest", reason, f"a.stm:{i + 1}: excluded", dataset="talks", source=f"a.stm:{i + 1}",
                span=DropSpan(None, audio, offset, duration))


def test_a_window_closes_before_a_dropped_segment():
    # kept 0-2 s and 2.9-4.9 s, the stretch between them dropped at ingest: two windows, never one
    items = [_segment(0, 0.0, 2.0, "one two"), _dropped(1, 2.1, 0.7), _segment(2, 2.9, 2.0, "three")]
    out = list(pack_windows(items, Windows(max_gap=1.0)))
    assert [(r.offset, r.duration, r.text) for r in out if isinstance(r, Record)] == [(0.0, 2.0, "one two"), (2.9, 2.0, "three")]
    assert [d.reason for d in out if isinstance(d, Drop)] == ["not_scored"]  # the drop itself still reaches the quarantine
    without_span = [items[0], Drop("ingest", "not_scored", "x", dataset="talks"), items[2]]
    assert [r.offset for r in pack_windows(without_span, Windows(max_gap=1.0)) if isinstance(r, Record)] == [0.0]


def test_dropped_spans_bar_only_their_own_recording_and_the_gap_they_lie_in():
    items = [
        _dropped(0, 2.2, 0.5),  # listed before the recording's first kept segment
        _dropped(1, 2.2, 0.5, audio="talks/b.sph"),  # another talk: no effect on a.sph
        _segment(2, 0.0, 2.0, "one"), _segment(3, 2.9, 2.0, "two"),
        _segment(4, 0.0, 2.0, "uno", audio="talks/b.sph"), _segment(5, 2.9, 2.0, "dos", audio="talks/b.sph"),
        _dropped(6, 2.5, 1.0, audio="talks/b.sph"),  # after its recording's segments: still bars them
        _segment(7, 0.0, 2.0, "eins", audio="talks/c.sph"), _segment(8, 2.5, 2.0, "zwei", audio="talks/c.sph"),
        _dropped(9, 1.0, 0.5, audio="talks/c.sph"),  # overlapping a kept segment, no gap holds it: kept together
    ]
    windows = [r for r in pack_windows(items, Windows(max_gap=1.0)) if isinstance(r, Record)]
    assert [(w.audio, w.offset, w.text) for w in windows] == [
        ("talks/a.sph", 0.0, "one"), ("talks/a.sph", 2.9, "two"),
        ("talks/b.sph", 0.0, "uno"), ("talks/b.sph", 2.9, "dos"),
        ("talks/c.sph", 0.0, "eins zwei"),
    ]


def test_a_gap_holding_a_dropped_segment_is_never_silence_in_srwt():
    words = {"one": [("one", 0.2, 1.8)], "two": [("two", 0.2, 1.8)]}
    items = [_segment(0, 0.0, 2.0, "one", words=words["one"]), _dropped(1, 2.5, 1.5), _segment(2, 5.0, 2.0, "two", words=words["two"])]
    windows = [r for r in pack_windows(items, Windows(gaps="silence")) if isinstance(r, Record)]
    targets = [srwt_target(w.text, "en", w.words, w.duration) for w in windows]
    assert targets == ["<|0.00|>one<|1.80|>", "<|0.00|>two<|1.80|>"]  # no <|sil|> where the dropped speech was
    kept = [r for r in pack_windows([items[0], items[2]], Windows(gaps="silence")) if isinstance(r, Record)]
    assert "<|sil|>" in srwt_target(kept[0].text, "en", kept[0].words, kept[0].duration)  # a truly empty gap is silence
