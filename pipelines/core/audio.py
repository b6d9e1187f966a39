"""Audio: decode anything, downmix to mono, resample to 16 kHz, encode 16-bit FLAC.

libsndfile (through soundfile) reads WAV, FLAC, OGG/Vorbis/Opus, MP3 and NIST SPHERE; PyAV (bundled
FFmpeg) reads the containers libsndfile cannot (MP4, M4A, AAC, WebM, ...). Resampling is soxr HQ.
Every failure is an ``AudioError`` with a stable reason id and a message naming the file.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from pipelines.core.config import MAX_SECONDS
from pipelines.core.record import Refusal

TARGET_RATE = 16_000
#: a whole-file decode that yields less than this share of the length its header declares is truncated
TRUNCATED_SHARE = 0.99
#: extensions libsndfile cannot read: go straight to PyAV
PYAV_EXTENSIONS = frozenset({".mp4", ".m4a", ".aac", ".webm", ".mkv", ".mov", ".wma", ".3gp"})
#: the longest Ogg page: a 27-byte header, 255 lacing values, 255 segments of 255 bytes
OGG_PAGE_MAX = 27 + 255 + 255 * 255


class AudioError(Refusal):
    """The audio of a record cannot be used: missing, empty, undecodable, too long, a bad span..."""


@dataclass(frozen=True)
class Clip:
    """16 kHz mono audio: int16 samples."""

    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / TARGET_RATE


def _downmix(block: np.ndarray, channel: int | None, path: str) -> np.ndarray:
    if block.ndim == 1:
        return block
    channels = block.shape[1]
    if channel is not None:
        if not 0 <= channel < channels:
            raise AudioError("bad_channel", f"{path}: channel {channel} asked, the file has {channels}")
        return block[:, channel]
    if channels == 1:
        return block[:, 0]
    # Adding columns, not block.mean(axis=1), which is much slower on interleaved data (bench/README.md).
    mixed = block[:, 0].astype(np.float32, copy=True)
    for c in range(1, channels):
        mixed += block[:, c]
    mixed *= 1.0 / channels
    return mixed


def _check_span(path: str, total_seconds: float, offset: float, duration: float | None) -> None:
    if offset < 0 or (duration is not None and duration <= 0):
        raise AudioError("bad_span", f"{path}: offset {offset} s / duration {duration} s is not a valid span")
    end = offset + (duration or 0.0)
    if offset >= total_seconds or end > total_seconds + 0.01:
        raise AudioError(
            "span_beyond_end", f"{path}: span {offset:.2f}-{end:.2f} s lies beyond the end of the file ({total_seconds:.2f} s)"
        )


def _mp3_without_length_header(path: str) -> bool:
    """An MP3 with no Xing/Info/VBRI frame: libsndfile estimates its length from the first frame's
    bitrate and, for variable bitrate, stops reading there (a 5 s clip comes out as 2.4 s); FFmpeg
    decodes the whole stream."""
    with open(path, "rb") as handle:
        head = handle.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size)
            start = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
        handle.seek(start)
        first = handle.read(4096)
    return not any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))


def _check_riff(path: str) -> None:
    """A WAV whose data chunk declares more bytes than the file holds was cut off (libsndfile would
    quietly read what is there). Sizes 0 and 0xFFFFFFFF mean "unknown" (streamed writers): not checked."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk = handle.read(8)
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if declared not in (0, 0xFFFFFFFF) and position + 8 + declared > size + 1:
                    raise AudioError(
                        "truncated",
                        f"{path}: the WAV header declares {declared} bytes of audio, the file holds {size - position - 8}",
                    )
                return
            position += 8 + declared + (declared & 1)


def _check_ogg(path: str) -> None:
    """An Ogg file (Vorbis, Opus) has no length in its header: libsndfile reports the length up to its
    last whole page and reads that much without complaint. A complete stream ends with a whole page
    flagged end-of-stream; a file cut off ends inside a page, or after a page without the flag.
    Only the last page is read (the file's tail); a file that does not start as Ogg is not checked."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if handle.read(4) != b"OggS":
            return
        handle.seek(max(0, size - OGG_PAGE_MAX))
        tail = handle.read()
    start = tail.rfind(b"OggS")
    while start >= 0:
        header = tail[start : start + 27]
        if len(header) == 27 and header[4] == 0 and not header[5] & 0xF8:  # stream version 0, known flags only
            lacing = tail[start + 27 : start + 27 + header[26]]
            if len(lacing) < header[26] or start + 27 + len(lacing) + sum(lacing) > len(tail):
                raise AudioError("truncated", f"{path}: the file ends inside an Ogg page (cut off)")
            if not header[5] & 0x04:
                raise AudioError("truncated", f"{path}: the last Ogg page does not end the stream (cut off)")
            return
        start = tail.rfind(b"OggS", 0, start)


def _read_soundfile(path: str, offset: float, duration: float | None, max_seconds: float):
    """(samples as float32 or int16 array, rate, source is 16 kHz mono PCM_16) via libsndfile."""
    with sf.SoundFile(path) as handle:
        rate = handle.samplerate
        total = handle.frames / rate if rate else 0.0
        if handle.format == "WAV":
            _check_riff(path)
        elif handle.format == "OGG":
            _check_ogg(path)
        if handle.frames <= 0:
            raise AudioError("empty_audio", f"{path}: no audio frames")
        if offset or duration is not None:
            _check_span(path, total, offset, duration)
        seconds = duration if duration is not None else total - offset
        if seconds > max_seconds:
            raise AudioError("too_long", f"{path}: {seconds:.2f} s is longer than the {max_seconds:.0f} s limit")
        start = int(round(offset * rate))
        frames = -1 if duration is None else int(round(duration * rate))
        if start:
            handle.seek(start)
        passthrough = rate == TARGET_RATE and handle.subtype == "PCM_16"
        data = handle.read(frames, dtype="int16" if passthrough else "float32", always_2d=False)
        if frames == -1 and not start:
            _check_complete(path, len(data) / rate, total)
        return data, rate, passthrough and data.ndim == 1


def _check_complete(path: str, decoded: float, declared: float | None) -> None:
    """Refuse a whole-file decode that ends well before the length the header declares (FLAC
    STREAMINFO, an MP3 Xing/Info frame): the file was cut off."""
    if declared and decoded < declared * TRUNCATED_SHARE - 0.05:
        raise AudioError("truncated", f"{path}: the header declares {declared:.2f} s, only {decoded:.2f} s can be decoded")


def _read_pyav(path: str, offset: float, duration: float | None, max_seconds: float):
    import av  # imported lazily: only MP4-like containers need it

    try:
        container = av.open(path)
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise AudioError("undecodable", f"{path}: not a readable audio container ({exc})") from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError("no_audio_stream", f"{path}: the container has no audio stream")
        stream = streams[0]
        if stream.codec_context is None:
            raise AudioError("unsupported_codec", f"{path}: the audio stream's codec is not one FFmpeg or libsndfile can decode")
        rate = stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout=stream.layout.name, rate=rate)
        chunks = []
        limit = None if duration is None else int(round((offset + duration) * rate))
        decoded = 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, len(out.layout.channels)))
                decoded += out.samples
            if limit is not None and decoded >= limit:
                break
            if duration is None and decoded / rate > offset + max_seconds + 1:
                raise AudioError("too_long", f"{path}: longer than the {max_seconds:.0f} s limit")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1, len(out.layout.channels)))
    if not chunks:
        raise AudioError("empty_audio", f"{path}: no audio frames")
    data = np.concatenate(chunks)
    total = len(data) / rate
    if offset or duration is not None:
        _check_span(path, total, offset, duration)
    start = int(round(offset * rate))
    end = len(data) if duration is None else start + int(round(duration * rate))
    data = data[start:end]
    if len(data) / rate > max_seconds:
        raise AudioError("too_long", f"{path}: {len(data) / rate:.2f} s is longer than the {max_seconds:.0f} s limit")
    return data, rate, False


def load(
    path: str,
    offset: float = 0.0,
    duration: float | None = None,
    channel: int | None = None,
    max_seconds: float = MAX_SECONDS,
    min_seconds: float = 0.0,
) -> Clip:
    """Decode ``path`` (or its span) to 16 kHz mono int16.

    Lengths are checked from the header before decoding where it tells them (a 3-hour file where a
    clip is expected is refused without reading its audio), and again after decoding.
    """
    if not os.path.isfile(path):
        raise AudioError("audio_missing", f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise AudioError("empty_file", f"{path}: zero bytes")
    if duration is not None and 0 < duration < min_seconds:
        raise AudioError("too_short", f"{path}: a span of {duration:.3f} s is shorter than the {min_seconds:g} s minimum")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in PYAV_EXTENSIONS or (ext == ".mp3" and _mp3_without_length_header(path)):
            data, rate, passthrough = _read_pyav(path, offset, duration, max_seconds)
        else:
            try:
                data, rate, passthrough = _read_soundfile(path, offset, duration, max_seconds)
            except sf.LibsndfileError:
                # libsndfile could not parse it (wrong extension, odd codec) or its stream broke off: let FFmpeg try
                _check_ogg(path)  # an Ogg file cut before its first audio page: libsndfile cannot even open it
                declared = probe_seconds(path) if not offset and duration is None else None
                try:
                    data, rate, passthrough = _read_pyav(path, offset, duration, max_seconds)
                except AudioError as exc:
                    if declared and exc.reason == "undecodable":
                        raise AudioError("truncated", f"{path}: the header declares {declared:.2f} s, the stream breaks off ({exc.detail})") from None
                    raise
                except Exception as exc:  # noqa: BLE001 - decoder libraries raise many types for corrupt input
                    if declared:
                        raise AudioError("truncated", f"{path}: the header declares {declared:.2f} s, the stream breaks off ({type(exc).__name__}: {exc})") from None
                    raise
                _check_complete(path, len(data) / rate, declared)
    except AudioError:
        raise
    except Exception as exc:  # decoder libraries raise many types for corrupt input
        raise AudioError("undecodable", f"{path}: cannot decode: {type(exc).__name__}: {exc}") from None
    if passthrough:
        samples = np.ascontiguousarray(data)
    else:
        mono = _downmix(data, channel, path)
        if not np.isfinite(mono).all():
            raise AudioError("non_finite_samples", f"{path}: NaN or infinite samples")
        if rate != TARGET_RATE:
            mono = soxr.resample(mono, rate, TARGET_RATE, quality="HQ")
        samples = to_int16(mono)
    if len(samples) == 0:
        raise AudioError("empty_audio", f"{path}: no samples in the requested span")
    if len(samples) < min_seconds * TARGET_RATE:
        raise AudioError("too_short", f"{path}: {len(samples) / TARGET_RATE:.3f} s is shorter than the {min_seconds:g} s minimum")
    return Clip(samples)


def probe_seconds(path: str) -> float | None:
    """Length of a file from its header, without decoding; None when the header does not say."""
    try:
        if os.path.splitext(path)[1].lower() not in PYAV_EXTENSIONS:
            with sf.SoundFile(path) as handle:
                return handle.frames / handle.samplerate if handle.samplerate else None
        import av

        with av.open(path) as container:
            return container.duration / av.time_base if container.duration else None
    except Exception:  # noqa: BLE001 - an unreadable header is reported by the audio stage later
        return None


def to_int16(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.int16:
        return x
    scaled = np.multiply(x, 32767.0, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.int16)


def pcm_sha256(clip: Clip) -> str:
    """sha256 of the clip's 16 kHz int16 samples, little-endian: the very samples ``encode_flac`` writes
    (FLAC is lossless, so the hash is the decoded shard audio's too). Equal hashes mean bit-identical
    audio only: the same sound resampled, cut or gained differently hashes apart."""
    return hashlib.sha256(np.ascontiguousarray(clip.samples, dtype="<i2").data).hexdigest()


def encode_flac(clip: Clip) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, clip.samples, TARGET_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_flac(data: bytes) -> tuple[np.ndarray, int, int]:
    """(int16 samples, rate, channels) of FLAC bytes: used by verify and tests."""
    samples, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    return samples[:, 0] if samples.shape[1] == 1 else samples, rate, samples.shape[1]

