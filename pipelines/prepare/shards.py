"""WebDataset shards: deterministic tar files, written under a temporary name, renamed when complete.

Each sample is two members, ``{key}.flac`` and ``{key}.json``. Members carry a fixed mtime, owner
and mode, and samples are written in a deterministic order, so the same samples give the same bytes
on any engine. A shard rolls over when the next sample would pass ``max_bytes`` or when it holds
``max_samples``; nothing is ever dropped to even shards out (the last one may be smaller).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tarfile
from dataclasses import dataclass, field

from pipelines.core import failpoints, outputs
from pipelines.core.remote import Mirror
from pipelines.prepare.accounting import Counters, audio_entry, count_sample
from pipelines.prepare.stages import Sample

TAR_BLOCK = 512


class ShardWriteError(RuntimeError):
    """Writing a shard failed (disk full, file size limit, I/O error); its partial file was removed."""


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if exc.errno == errno.EFBIG:
        return "the file size limit was reached"
    return "the write failed"


def sample_json(sample: Sample) -> dict:
    """The JSON member of a sample: everything a trainer or an auditor needs besides the audio."""
    record = sample.record
    flags = {"flags": list(sample.flags)} if sample.flags else {}  # only when there is one: "silent"
    return {
        **flags,
        "key": record.key,
        "dataset": record.dataset,
        "split": record.split,
        "role": record.role,
        "duration": round(sample.seconds, 4),
        "sample_rate": 16000,
        "language": record.language,
        "text_language": record.text_language,
        "text_raw": record.text_raw,
        "language_check": {name: check.to_dict() for name, check in sample.language_checks},
        **({"pcm_sha256": sample.pcm_sha256} if sample.pcm_sha256 else {}),  # bit-identical audio, across shards
        "license": record.license,
        "speaker": record.speaker,
        "source": {
            "audio": record.audio,
            "offset": record.offset,
            "duration": record.duration,
            "channel": record.channel,
            "metadata": record.source,
            **({"spans": [list(span) for span in record.spans]} if record.spans else {}),  # a window's segments
        },
        "meta": dict(sorted(record.meta.items())),
        "tasks": [view.to_dict() for view in sample.views],
        **({"quality": sample.quality} if sample.quality else {}),  # measured by the audio stage (docs/quality.md)
    }


class _TarStream:
    """The bytes of a tar file written straight to ``handle`` and hashed on the way: each member is
    its header (``member_header``: tarfile's PAX-format bytes) and its data padded to 512 bytes, written as two
    writes; closing adds what ``tarfile`` adds (two zero blocks, padding to a 10 KiB record), so the
    bytes are the ones ``tarfile.TarFile.addfile`` would give, without its copy loop through a file
    object in 16 KiB chunks (bench/README.md)."""

    def __init__(self, handle):
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def _write(self, data: bytes) -> None:
        self.handle.write(data)
        self.sha256.update(data)
        self.size += len(data)

    def add(self, name: str, data: bytes) -> None:
        self._write(member_header(name, len(data)))
        self._write(data)
        if len(data) % TAR_BLOCK:
            self._write(b"\0" * (TAR_BLOCK - len(data) % TAR_BLOCK))

    def finish(self) -> None:
        self._write(b"\0" * (2 * TAR_BLOCK))
        if self.size % tarfile.RECORDSIZE:
            self._write(b"\0" * (tarfile.RECORDSIZE - self.size % tarfile.RECORDSIZE))


@dataclass
class ShardInfo:
    path: str  # relative to the output root
    group: str
    samples: int = 0
    bytes: int = 0
    seconds: float = 0.0
    sha256: str = ""
    stats: Counters = field(default_factory=Counters)
    audio: list[list[str]] = field(default_factory=list)  # ``accounting.audio_entry`` per sample: in _work only

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "group": self.group,
            "split": self.group if self.group == "train" else self.group.rsplit("/", 1)[1],
            "samples": self.samples,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "sha256": self.sha256,
            "stats": self.stats.to_dict(),
            "audio": self.audio,
        }


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _header_template() -> tuple[bytes, int]:
    """A member header with an empty name and size 0 (the fixed fields as ``_member`` sets them), and
    the sum of its bytes with the checksum field blank, as tar sums it."""
    block = bytearray(_member("", 0).tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"))
    block[148:156] = b" " * 8
    return bytes(block), sum(block)


_TEMPLATE, _TEMPLATE_SUM = _header_template()
_ZERO_SIZE = _TEMPLATE[124:136]


def member_header(name: str, size: int) -> bytes:
    """The header ``tarfile`` writes (PAX format) for member ``name`` of ``size`` bytes.

    A name of up to 100 ASCII bytes and a size below 8 GiB need no PAX header: the ustar block is the
    template with the name, the size and the checksum filled in (a twentieth of ``TarInfo.tobuf``'s
    time, a sample has two). Anything else goes through ``tobuf``. Tested byte for byte against it."""
    encoded = name.encode("utf-8", "surrogateescape")
    if not _plain_ustar(encoded, size):
        return _member(name, size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    size_field = b"%011o\0" % size
    checksum = _TEMPLATE_SUM + sum(encoded) + sum(size_field) - sum(_ZERO_SIZE)
    return b"".join((
        encoded, _TEMPLATE[len(encoded):124], size_field, _TEMPLATE[136:148], b"%06o\0" % checksum, _TEMPLATE[155:]
    ))


def _plain_ustar(encoded_name: bytes, size: int) -> bool:
    """Whether a member's header is one ustar block (else tarfile adds a PAX header before it)."""
    return len(encoded_name) <= 100 and encoded_name.isascii() and size < 8**11


def _member_bytes(name: str, size: int) -> int:
    """A member's bytes in the tar (header, data, padding); a PAX header counted as two blocks."""
    header = TAR_BLOCK * (1 if _plain_ustar(name.encode("utf-8", "surrogateescape"), size) else 3)
    return header + -(-size // TAR_BLOCK) * TAR_BLOCK


class ShardWriter:
    """Writes the samples of one work unit into ``shard-UUUUU-000.tar``, ``-001.tar``, ..."""

    def __init__(self, out: str, unit: str, max_bytes: int, max_samples: int, mirror: Mirror | None = None):
        self.out, self.unit = out, unit
        self.mirror = mirror
        self.max_bytes, self.max_samples = max_bytes, max_samples
        self.group = outputs.group_of_unit(unit)
        self.done: list[ShardInfo] = []
        self._tar: _TarStream | None = None
        self._file = None
        self._info: ShardInfo | None = None

    def _open(self) -> None:
        relpath = outputs.shard_relpath(self.unit, len(self.done))
        final = os.path.join(self.out, relpath)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        self._file = open(outputs.partial_path(final), "wb")
        self._tar = _TarStream(self._file)
        self._info = ShardInfo(relpath, self.group)

    def _failed(self, exc: OSError) -> ShardWriteError:
        """Remove the partial shard and say so: nothing truncated is left under a final name."""
        path = os.path.join(self.out, self._info.path) if self._info is not None else os.path.join(self.out, self.unit)
        self.abort()
        return ShardWriteError(
            f"writing shard {path} failed: {_why(exc)} ({exc.strerror or exc}); its partial file was removed "
            f"and no shard was published under that name (unit {self.unit} is not complete; rerun to resume)"
        )

    def _close(self) -> None:
        if self._tar is None:
            return
        info = self._info
        final = os.path.join(self.out, info.path)
        try:
            self._tar.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            info.bytes, info.sha256 = self._tar.size, self._tar.sha256.hexdigest()
            os.replace(outputs.partial_path(final), final)
        except OSError as exc:
            raise self._failed(exc) from exc
        if self.mirror is not None and self.mirror.uri is not None:
            self.mirror.push(final)  # published in the bucket; the local copy is no longer needed
            os.remove(final)
        failpoints.hit("shard_published")
        self.done.append(info)
        self._tar = self._file = self._info = None

    def write(self, sample: Sample) -> None:
        key = sample.record.key
        meta = json.dumps(sample_json(sample), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        size = _member_bytes(f"{key}.flac", len(sample.flac)) + _member_bytes(f"{key}.json", len(meta))
        if self._info is not None and self._info.samples and (
            self._info.samples >= self.max_samples or self._tar.size + size > self.max_bytes
        ):
            self._close()
        try:
            if self._tar is None:
                self._open()
            self._tar.add(f"{key}.flac", sample.flac)
            self._tar.add(f"{key}.json", meta)
        except OSError as exc:
            raise self._failed(exc) from exc
        info = self._info
        info.samples += 1
        info.seconds += sample.seconds
        failpoints.hit("sample_written")
        count_sample(info.stats, sample)
        entry = audio_entry(sample)
        if entry is not None:
            info.audio.append(entry)

    def close(self, at_least_one: bool = False) -> list[ShardInfo]:
        """Publish the open shard; with ``at_least_one``, an empty unit still gets its (empty) shard,
        so a fixed number of shards (a multiple of the training ranks) always exists."""
        if at_least_one and not self.done and self._tar is None:
            self._open()
        self._close()
        return self.done

    def abort(self) -> None:
        """Remove the partial shard after a failure: nothing incomplete is left behind."""
        if self._info is not None:
            final = os.path.join(self.out, self._info.path)
            try:
                self._file.close()  # may fail again flushing its buffer to a full disk: the file goes anyway
            except OSError:
                pass
            try:
                os.remove(outputs.partial_path(final))
            except FileNotFoundError:
                pass
            self._tar = self._file = self._info = None
