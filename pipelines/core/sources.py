"""Corpus roots on S3: ``--dataset NAME=s3://bucket/corpus/`` with the schema unchanged.

Ingest reads metadata, never audio, so an s3:// root is seen through a local view: one streamed
listing of the prefix, metadata files (transcripts, tables, JSON) downloaded into a cache folder,
audio files present there as empty placeholders so that layouts and existence checks work as on
disk. Durations are not probed for such roots (that would mean a request per file); they come from
the corpus's metadata or are unknown until decoding. The audio stage then fetches each clip from the
bucket when it decodes it (``local_copy``), one at a time, so a worker's disk use stays flat.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
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


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """``path`` itself when local; for ``s3://...`` a temporary local copy, removed afterwards."""
    if not is_remote(path):
        yield path
        return
    from botocore.exceptions import ClientError

    bucket, _, key = path[len(S3_PREFIX) :].partition("/")
    suffix = os.path.splitext(key)[1]
    handle, temporary = tempfile.mkstemp(prefix="audioprep-", suffix=suffix)
    os.close(handle)
    try:
        try:
            _client().download_file(bucket, key, temporary)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                os.remove(temporary)  # audio.load reports the missing file by its URI
                yield path
                return
            raise
        yield temporary
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def join(root: str, rel: str) -> str:
    return f"{root.rstrip('/')}/{rel}" if is_remote(root) else os.path.join(root, rel)
