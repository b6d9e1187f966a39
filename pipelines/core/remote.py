"""Output on S3 (or any S3-compatible store): a local work folder mirrored to ``s3://bucket/prefix/``.

Every stage keeps working on a local folder. What is published there is uploaded as soon as it is
complete: a shard when its unit has written it (multipart upload, checksum checked after upload,
never overwriting a different published object), then the unit's completion record; the plan, the
manifests and the unit inputs when planning ends; index, summary, quarantine and stats at the end.
So the bucket alone is enough to resume: a rerun on another machine (or a Ray worker on another
node) fetches what it lacks from ``_work/`` in the bucket. Credentials, region and endpoint come from
the standard AWS configuration (``AWS_ENDPOINT_URL`` for MinIO, Ceph or a local test server).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache

S3_PREFIX = "s3://"
#: shards above this size go up in parts of this size (S3's minimum part is 5 MiB)
MULTIPART_BYTES = max(5, int(os.environ.get("AUDIOPREP_S3_PART_MB", "8"))) * 1024 * 1024
#: keys one DeleteObjects request removes at most (S3's limit)
DELETE_BATCH = 1000


class RemoteError(RuntimeError):
    pass


def is_remote(location: str) -> bool:
    return location.startswith(S3_PREFIX)


def default_workdir(uri: str) -> str:
    """Where the local mirror of ``uri`` lives unless the user names a folder: one folder per endpoint
    (the server the bucket is on, as boto3 resolves it) and bucket/prefix, so a bucket of the same name
    on another server never shares a cache."""
    base = os.environ.get("AUDIOPREP_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "audioprep"))
    return os.path.join(base, "s3", endpoint_slug(endpoint_url()), uri[len(S3_PREFIX) :].strip("/").replace("/", "__"))


def endpoint_url() -> str:
    """The S3 endpoint boto3 uses (``AWS_ENDPOINT_URL``, the AWS configuration, else AWS's own)."""
    return _client().meta.endpoint_url


def endpoint_slug(url: str) -> str:
    """A folder name for an endpoint: its host and port, readable, plus a short hash of the whole URL."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    readable = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return f"{readable}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


@lru_cache(maxsize=1)
def _client():
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 10, "mode": "adaptive"},  # throttling, 5xx and dropped connections
        connect_timeout=10,
        read_timeout=60,
        tcp_keepalive=True,
    )
    return boto3.client("s3", config=config)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Mirror:
    """Maps the local work folder ``local`` to ``uri``; a no-op when ``uri`` is None (local output)."""

    local: str
    uri: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "local", os.path.abspath(self.local))
        if self.uri is not None and not self.uri.endswith("/"):
            object.__setattr__(self, "uri", self.uri + "/")

    @property
    def bucket(self) -> str:
        return self.uri[len(S3_PREFIX) :].split("/", 1)[0]

    def key(self, rel: str) -> str:
        prefix = self.uri[len(S3_PREFIX) :].split("/", 1)[1] if "/" in self.uri[len(S3_PREFIX) :] else ""
        prefix = prefix.strip("/")
        return f"{prefix}/{rel}" if prefix else rel

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.local)
        if rel.startswith(".."):
            raise RemoteError(f"{path} is outside the work folder {self.local}")
        return rel.replace(os.sep, "/")

    def _head(self, rel: str):
        from botocore.exceptions import ClientError

        try:
            return _client().head_object(Bucket=self.bucket, Key=self.key(rel))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def push(self, path: str) -> None:
        """Publish the local file ``path`` at the same relative place in the bucket."""
        if self.uri is None:
            return
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        rel = self._rel(path)
        size, digest = os.path.getsize(path), _sha256(path)
        try:
            existing = self._head(rel)
            if existing is not None:
                if existing.get("Metadata", {}).get("sha256") == digest and existing["ContentLength"] == size:
                    return  # already published by an earlier attempt: nothing to do
                if not rel.startswith("_work/") and rel.endswith(".tar"):
                    raise RemoteError(
                        f"{self.uri}{rel} already exists with other content; refusing to overwrite a published shard"
                    )
            transfer = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4)
            _client().upload_file(
                path, self.bucket, self.key(rel), ExtraArgs={"Metadata": {"sha256": digest}}, Config=transfer
            )
            uploaded = self._head(rel)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise RemoteError(f"upload of {path} to {self.uri}{rel} failed after retries: {exc}") from exc
        if uploaded is None or uploaded["ContentLength"] != size or uploaded.get("Metadata", {}).get("sha256") != digest:
            raise RemoteError(f"{self.uri}{rel} does not match {path} after upload (size or sha256)")

    def backed(self, path: str) -> bool:
        """Whether the bucket holds the local file ``path`` with the same content (always, for a local output)."""
        if self.uri is None:
            return True
        published = self._head(self._rel(path))
        return published is not None and published.get("Metadata", {}).get("sha256") == _sha256(path)

    def fetch(self, path: str) -> bool:
        """Make sure ``path`` exists locally, downloading it from the bucket; False if it is nowhere."""
        if os.path.exists(path):
            return True
        if self.uri is None:
            return False
        from botocore.exceptions import ClientError

        rel = self._rel(path)
        if self._head(rel) is None:
            return False
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.download-{os.getpid()}")
        try:
            _client().download_file(self.bucket, self.key(rel), temporary)
        except ClientError as exc:
            raise RemoteError(f"download of {self.uri}{rel} failed: {exc}") from exc
        os.replace(temporary, path)
        return True

    def remove_tree(self, folder: str) -> int:
        """Delete every object under the relative ``folder`` from the bucket (in batches of at most
        ``DELETE_BATCH`` keys); returns how many there were (none for a local output)."""
        if self.uri is None:
            return 0
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = self.key(folder.rstrip("/") + "/")
        removed = 0
        try:
            for page in _client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                for start in range(0, len(keys), DELETE_BATCH):
                    batch = keys[start : start + DELETE_BATCH]
                    failed = _client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors")
                    if failed:
                        raise RemoteError(f"could not delete {self.uri}{failed[0]['Key'][len(self.key('')):]}: {failed[0].get('Message')}")
                    removed += len(batch)
        except (BotoCoreError, ClientError) as exc:
            raise RemoteError(f"removing {self.uri}{folder} failed: {exc}") from exc
        return removed

    def fetch_tree(self, folder: str) -> None:
        """Download every object under the relative ``folder`` that is not here yet."""
        if self.uri is None:
            return
        prefix = self.key(folder.rstrip("/") + "/")
        paginator = _client().get_paginator("list_objects_v2")
        strip = len(self.key(""))
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                self.fetch(os.path.join(self.local, item["Key"][strip:]))
