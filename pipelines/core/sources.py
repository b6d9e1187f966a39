"""Corpus roots on S3: ``--dataset NAME=s3://bucket/corpus/`` with the schema unchanged.

Ingest reads metadata, never audio, so an s3:// root is seen through a local view: one streamed
listing of the prefix, metadata files (transcripts, tables, JSON) downloaded into a cache folder,
audio files present there as empty placeholders so that layouts and existence checks work as on
disk. Durations are not probed for such roots (that would mean a request per file); they come from
the corpus's metadata or are unknown until decoding. The audio stage then takes each clip from the
bucket when it decodes it (``local_copy``: one GET into a temporary file, removed after use).

A work unit knows its clips in order, so it fetches ahead (``Prefetch``): a few threads GET the next
clips while the current one is decoded, so that a bucket's latency is not paid clip after clip. What
is fetched and not yet used is bounded (``PREFETCH_BYTES``, and at most ``PREFETCH_AHEAD`` clips), so
a worker's disk use stays flat. A fetch that failed ahead is done again, in turn, as without
prefetching (its error, if it fails again, is the run's as before); a clip missing from the bucket is
reported by the audio stage by its URI. The prefetch in effect is the calling thread's own (an
engine runs each unit in one thread), so units running side by side never share one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

from pipelines.core.remote import S3_PREFIX, Mirror, RemoteError, _client, default_workdir, is_remote

#: files with these extensions are audio: listed, never downloaded at ingest
AUDIO_EXTENSIONS = frozenset(
    ".wav .flac .mp3 .ogg .opus .sph .nist .mp4 .m4a .aac .webm .mkv .mov .wma .3gp .aif .aiff .au .caf".split()
)


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len(S3_PREFIX) :].partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


def local_view(root: str) -> str:
    """A local folder that looks like the corpus at ``root`` for ingest (``root`` itself if local)."""
    if not is_remote(root):
        return root
    folder = os.path.join(default_workdir(root), "view")
    bucket, prefix = split_uri(root)
    mirror = Mirror(folder, root)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = list_pages(bucket, prefix)
        for item in pages:
            rel = item["Key"][len(prefix) :]
            if not rel or rel.endswith("/") or rel.startswith("/") or ".." in rel.split("/"):
                continue  # a key that would escape the view is never written
            path = os.path.join(folder, rel)
            if os.path.splitext(rel)[1].lower() in AUDIO_EXTENSIONS:
                if not os.path.exists(path):
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    open(path, "wb").close()
            elif not os.path.exists(path) or os.path.getsize(path) != item["Size"]:
                if os.path.exists(path):
                    os.remove(path)
                mirror.fetch(path)
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(f"cannot list the corpus at {root}: {exc}") from exc
    os.makedirs(folder, exist_ok=True)
    return folder


def list_pages(bucket: str, prefix: str):
    """Every object under ``prefix``, streamed page by page in key order."""
    for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


#: clips a unit fetches ahead of the one being decoded, at most (``AUDIOPREP_S3_PREFETCH``; 0: none),
#: and the threads that fetch them
PREFETCH_AHEAD = max(0, int(os.environ.get("AUDIOPREP_S3_PREFETCH", "8")))
PREFETCH_THREADS = 4
#: bytes of clips fetched ahead and not yet used, at most, before more are fetched (besides the
#: clips being fetched: at most ``PREFETCH_AHEAD`` of them)
PREFETCH_BYTES = 64 << 20

_current = threading.local()


def _fetch(path: str) -> tuple[str, int]:
    """One GET of ``s3://bucket/key`` into a temporary file: (the file, its size); (``path``, -1) when
    the bucket has no such object (``audio.load`` then reports the missing file by its URI)."""
    from botocore.exceptions import ClientError

    bucket, _, key = path[len(S3_PREFIX) :].partition("/")
    handle, temporary = tempfile.mkstemp(prefix="audioprep-", suffix=os.path.splitext(key)[1])
    try:
        with os.fdopen(handle, "wb") as file:
            try:
                body = _client().get_object(Bucket=bucket, Key=key)["Body"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    os.remove(temporary)
                    return path, -1
                raise
            with contextlib.closing(body):
                shutil.copyfileobj(body, file, 1 << 20)
            return temporary, file.tell()
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """``path`` itself when local; for ``s3://...`` a local copy (fetched ahead by the thread's
    ``Prefetch`` when it has it, else now), removed afterwards."""
    if not is_remote(path):
        yield path
        return
    prefetch: Prefetch | None = getattr(_current, "prefetch", None)
    fetched = prefetch.take(path) if prefetch is not None else None
    local, _ = fetched if fetched is not None else _fetch(path)
    try:
        yield local
    finally:
        if local != path and os.path.exists(local):
            os.remove(local)


class Prefetch:
    """The s3:// clips of ``paths`` (in the order they will be used; local paths are skipped) fetched
    ahead in a thread pool, for ``local_copy`` calls of the thread that entered it (``with``).

    A clip asked for is the next of the list not yet taken; clips passed over (their record was
    refused before its audio was needed) are let go. Leaving removes every file not taken."""

    def __init__(self, paths: list[str], threads: int = PREFETCH_THREADS, ahead: int | None = None, max_bytes: int = PREFETCH_BYTES):
        ahead = PREFETCH_AHEAD if ahead is None else ahead
        self.todo = deque(p for p in paths if is_remote(p)) if ahead > 0 else deque()
        self.left = Counter(self.todo)  # clips of each path not yet taken or passed over
        self.ahead, self.max_bytes = ahead, max_bytes
        self.pending: deque[tuple[str, Future]] = deque()
        self.pool = None
        if self.todo:
            _client()  # made once, here: making a client is not thread-safe, using one is
            self.pool = ThreadPoolExecutor(threads, thread_name_prefix="prefetch")
        self._outer: Prefetch | None = None

    def __enter__(self) -> "Prefetch":
        self._outer = getattr(_current, "prefetch", None)
        _current.prefetch = self
        self._fill()
        return self

    def __exit__(self, *exc) -> None:
        _current.prefetch = self._outer
        while self.pending:
            _let_go(self.pending.popleft()[1])
        if self.pool is not None:
            self.pool.shutdown(wait=True)  # every file fetched meanwhile is removed by its callback

    def _held(self) -> int:
        """Bytes fetched and not yet taken."""
        return sum(max(0, f.result()[1]) for _, f in self.pending if f.done() and not f.cancelled() and f.exception() is None)

    def _fill(self) -> None:
        while self.todo and len(self.pending) < self.ahead and self._held() < self.max_bytes:
            path = self.todo.popleft()
            self.pending.append((path, self.pool.submit(_fetch, path)))

    def take(self, path: str) -> tuple[str, int] | None:
        """The fetched copy of ``path`` (the caller removes it), or None when it is not fetched
        ahead or its fetch failed: the caller then fetches it itself."""
        if not self.left[path]:
            return None
        while True:
            if not self.pending:  # passed over before being fetched, or not fetched yet: not ahead
                here = self.todo.popleft()
                self.left[here] -= 1
                if here == path:
                    self._fill()
                    return None
                continue
            here, future = self.pending.popleft()
            self.left[here] -= 1
            if here == path:
                break
            _let_go(future)  # a clip whose record never reached the audio stage
        self._fill()
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - fetched again by the caller, whose error is the run's
            return None


def _let_go(future: Future) -> None:
    """A fetch no one will take: cancelled, or its file removed once it is done."""
    if not future.cancel():
        future.add_done_callback(_remove_fetched)


def _remove_fetched(future: Future) -> None:
    if future.exception() is None:
        local, size = future.result()
        if size >= 0 and os.path.exists(local):
            os.remove(local)


def join(root: str, rel: str) -> str:
    return f"{root.rstrip('/')}/{rel}" if is_remote(root) else os.path.join(root, rel)
