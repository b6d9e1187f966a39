"""What a run is: which datasets from where, with which weights, into which output, with which bounds.

``RunConfig`` is the plan's input and is fingerprinted (``digest``): a rerun with the same config
resumes, a different one is refused. Engine choices (Beam or Ray, workers, cluster) do not change the output,
so they live in ``EngineOptions`` and are not fingerprinted. A run config file (YAML, see
``run_config.py``) and ``NAME=ROOT`` strings both produce these (``run_request.py``); both travel as
JSON (``to_dict``/``from_dict``) between orchestrated tasks and in the plan.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

MAX_SECONDS = 30.0
#: clips shorter than this are refused (too_short): a few frames of audio teach nothing
MIN_SECONDS = 0.1
#: the engines a run can use (pipelines/runners/)
ENGINES = ("beam", "ray", "local")
DEFAULT_SHARD_MAX_BYTES = 1_000_000_000
DEFAULT_SHARD_MAX_SAMPLES = 2000
#: the smallest shard size bound a run accepts (RunConfig refuses a smaller one)
MIN_SHARD_MAX_BYTES = 1 << 16
#: RunConfig fields that do not shape the output: a rerun may change them and still resume
NOT_FINGERPRINTED = ("out", "work_dir", "allow_empty")
#: the quality metrics measured on every clip, in the order of a sample's ``quality`` (docs/quality.md);
#: each can be a filter of the run config (``filters:``)
QUALITY_METRICS = (
    "rms_dbfs", "peak", "clipping", "dc_offset", "silence", "snr_db", "bandwidth_hz", "chars_per_second",
    "words_per_second",
)
#: DNSMOS scores, measured only when a run asks for them (``RunConfig.dnsmos``, the dnsmos extra)
DNSMOS_METRICS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the dataset name used in keys, shards and reports
    schema: str  # a built-in schema name or the path of a schema file
    root: str  # the corpus as the user unpacked it (a folder or an s3:// URI)
    splits: tuple[str, ...] | None = None  # only these splits of the corpus (default: all)
    cap_hours: float | None = None  # at most this many hours of training data
    repeat: float = 1.0  # upsample (>1) or downsample (<1) training data by this factor
    roots: dict[str, str] = field(default_factory=dict)  # extra roots the schema declares (e.g. common_voice)
    srwt: bool = False  # each ASR window also gets its SRWT view (word timestamps; docs/long-form.md)

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        """``NAME=ROOT`` (NAME is also the schema) or ``NAME:SCHEMA=ROOT``, then ``,EXTRA=PATH`` per extra root."""
        name, sep, rest = text.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"--dataset {text!r}: expected NAME=ROOT, e.g. librispeech=/data/LibriSpeech")
        name, _, schema = name.partition(":")
        parts = rest.split(",")
        root, roots = parts[0], {}
        for part in parts[1:]:
            extra, eq, path = part.partition("=")
            if eq and extra and path and extra.replace("_", "").replace("-", "").isalnum():
                roots[extra] = path
            elif roots:
                raise ValueError(f"--dataset {text!r}: {part!r} is not EXTRA=PATH (e.g. common_voice=/data/cv)")
            else:
                root += "," + part  # a comma inside the root's own path
        if not root:
            raise ValueError(f"--dataset {text!r}: expected NAME=ROOT, e.g. librispeech=/data/LibriSpeech")
        return cls(name=name, schema=schema or name, root=root, roots=roots)

    def root_map(self) -> dict[str, str]:
        """Every root of this dataset by ``root_key``: its own and its extra roots."""
        return {root_key(self.name): self.root, **{root_key(self.name, k): v for k, v in self.roots.items()}}

    def check_roots(self) -> None:
        """``ValueError`` naming the first local root (its own or an extra one) that is not a folder;
        s3:// roots are checked when they are listed."""
        from pipelines.core.remote import is_remote

        if not is_remote(self.root) and not os.path.isdir(self.root):
            raise ValueError(f"corpus root {self.root} for corpus {self.name!r} is not a directory")
        for extra, path in self.roots.items():
            if not is_remote(path) and not os.path.isdir(path):
                raise ValueError(f"extra root {extra}={path} for corpus {self.name!r} is not a directory")

    @classmethod
    def from_dict(cls, data: dict) -> "DatasetSpec":
        """The inverse of ``dataclasses.asdict``: JSON lists back to the tuples they were."""
        splits = data.get("splits")
        return cls(**{**data, "splits": None if splits is None else tuple(splits)})


def root_key(dataset: str, extra: str | None = None) -> str:
    """How engines find a record's audio root: ``dataset`` or ``dataset:extra`` (Record.audio_root)."""
    return dataset if extra is None else f"{dataset}:{extra}"


@dataclass(frozen=True)
class RunConfig:
    datasets: tuple[DatasetSpec, ...]
    out: str
    seed: int = 0
    shard_max_bytes: int = DEFAULT_SHARD_MAX_BYTES
    shard_max_samples: int = DEFAULT_SHARD_MAX_SAMPLES
    shards_multiple_of: int | None = None  # number of training shards: a multiple of this (ranks)
    temperature: float | None = None  # temperature sampling over corpus sizes (1 = proportional)
    task_weights: dict = field(default_factory=dict)  # task -> {"cap_hours": h or None, "repeat": r}
    max_seconds: float = MAX_SECONDS
    min_seconds: float = MIN_SECONDS  # shorter clips are quarantined (too_short)
    probe_durations: bool = True  # read audio headers at ingest where the corpus gives no duration
    work_dir: str | None = None  # local work folder when ``out`` is s3:// (default: a cache folder)
    sil_threshold: float = 0.3  # SRWT: a pause longer than this (seconds) is a <|sil|> unit
    ctc_models: dict = field(default_factory=dict)  # SRWT: language -> TorchScript CTC model for the CTC aligner
    allow_empty: tuple[str, ...] = ()  # datasets that may yield no record (any other one that does fails the run)
    # quality filters (docs/quality.md): {"rules": {metric: rule}, "languages": {lang: {metric: rule}},
    # "datasets": {name: {"rules": ..., "languages": ...}}}, a rule {"min", "max", "evaluation"}; {}: none
    filters: dict = field(default_factory=dict)
    dnsmos: bool = False  # DNSMOS scores of speech clips in ``quality`` (the dnsmos extra; docs/quality.md)
    extra: dict = field(default_factory=dict)
    protected_origins: tuple[str, ...] = ()  # origin lists kept out of training: files of origins or other runs' outputs

    def __post_init__(self) -> None:
        """The shard bounds every way of giving a run passes through: ``ValueError`` naming the option."""
        if self.shard_max_bytes < MIN_SHARD_MAX_BYTES:
            raise ValueError(f"shard_max_bytes must be at least {MIN_SHARD_MAX_BYTES}, not {self.shard_max_bytes}")
        if self.shard_max_samples < 1:
            raise ValueError(f"shard_max_samples must be at least 1, not {self.shard_max_samples}")

    def to_dict(self) -> dict:
        """This config as JSON-ready data (``from_dict`` rebuilds it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """A config from ``to_dict``'s data, after a trip through JSON (a run between tasks, a plan)."""
        datasets = tuple(DatasetSpec.from_dict(d) for d in data["datasets"])
        return cls(**{**data, "datasets": datasets, "protected_origins": tuple(data.get("protected_origins", ())),
                      "allow_empty": tuple(data.get("allow_empty", ()))})

    @property
    def remote(self) -> str | None:
        """The s3:// URI of the output, or None when the output is a local folder."""
        from pipelines.core.remote import is_remote

        return self.out if is_remote(self.out) else None

    @property
    def local_out(self) -> str:
        """The folder every stage works in: the output itself, or the local mirror of an s3:// output."""
        from pipelines.core.remote import default_workdir

        return self.out if self.remote is None else (self.work_dir or default_workdir(self.out))

    @property
    def unit_records(self) -> int:
        """Records per work unit: a little under a shard, so hash-partition noise rarely splits one."""
        return max(1, int(self.shard_max_samples * 0.9))

    def fingerprinted(self) -> dict:
        """The fields that shape the output (where it goes and run-time allowances do not)."""
        return {k: v for k, v in asdict(self).items() if k not in NOT_FINGERPRINTED}

    def digest(self) -> str:
        """sha256 of ``fingerprinted``: part of the plan's fingerprint (``pipelines.plan.provenance``)."""
        return hashlib.sha256(json.dumps(self.fingerprinted(), sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class EngineOptions:
    engine: str | None = None  # None: the default engine, see ``overridden``
    workers: int | None = None  # None: this machine's CPU count, at most one per pending unit (runners.run_units)
    ray_address: str | None = None
    beam_args: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """These options as JSON-ready data (``from_dict`` rebuilds them)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EngineOptions":
        return cls(**{**data, "beam_args": tuple(data["beam_args"])})

    def overridden(
        self, engine: str | None = None, workers: int | None = None, ray_address: str | None = None, beam_args: tuple[str, ...] = (),
    ) -> "EngineOptions":
        """These options with a command line's or a DAG run's values on top (``None`` keeps ours), the
        engine named; ``ValueError`` for an unknown engine or a Ray cluster given with another engine.

        A run that names no engine runs on Beam's local runner, or on Ray when it is given a Ray cluster:
        on one machine Beam is the engine that meets the benchmark's targets (bench/README.md), and
        both write the same bytes.
        """
        address = ray_address or self.ray_address
        chosen = engine or self.engine or ("ray" if address else "beam")
        if chosen not in ENGINES:
            raise ValueError(f"unknown engine {chosen!r}; choose one of {', '.join(ENGINES)}")
        if chosen != "ray":
            if ray_address:
                raise ValueError(f"a Ray cluster ({ray_address}) is given but the engine is {chosen}: choose engine ray, or leave the address out")
            address = None  # a run config's Ray cluster is for its Ray runs; this run chose another engine
        return EngineOptions(chosen, workers or self.workers, address, tuple(beam_args) or self.beam_args)
