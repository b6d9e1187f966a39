"""What a run is: which datasets from where, into which output, with which bounds."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from . import audio

DEFAULT_SHARD_MAX_BYTES = 1_000_000_000
DEFAULT_SHARD_MAX_SAMPLES = 2000


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the dataset name used in keys, shards and reports
    schema: str  # a built-in schema name or the path of a schema file
    root: str  # the corpus as the user unpacked it

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        """``NAME=ROOT`` (NAME is also the schema) or ``NAME:SCHEMA=ROOT``."""
        name, sep, root = text.partition("=")
        if not sep or not name or not root:
            raise ValueError(f"--dataset {text!r}: expected NAME=ROOT, e.g. librispeech=/data/LibriSpeech")
        name, _, schema = name.partition(":")
        return cls(name=name, schema=schema or name, root=root)


@dataclass(frozen=True)
class RunConfig:
    datasets: tuple[DatasetSpec, ...]
    out: str
    seed: int = 0
    shard_max_bytes: int = DEFAULT_SHARD_MAX_BYTES
    shard_max_samples: int = DEFAULT_SHARD_MAX_SAMPLES
    max_seconds: float = audio.MAX_SECONDS
    extra: dict = field(default_factory=dict)

    @property
    def unit_records(self) -> int:
        """Records per work unit: a little under a shard, so hash-partition noise rarely splits one."""
        return max(1, int(self.shard_max_samples * 0.9))

    def fingerprint(self, schema_texts: dict[str, str]) -> str:
        """Identifies the work: a rerun with the same fingerprint resumes, another one is refused."""
        payload = {k: v for k, v in asdict(self).items() if k != "out"}
        payload["schemas"] = schema_texts
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
