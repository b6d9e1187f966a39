"""Plan a run: ingest every dataset into its manifest, weight the corpora, cut records into work units.

Everything streams. Ingest writes each dataset's Parquet manifest in row batches (with durations
from the corpus or the audio headers, never by decoding). Weighting (caps, repeats, temperature over
corpus hours; training data only) decides for every record, from a hash of its key, how many copies
go into the mix. Partitioning puts every copy into a work unit of its shard group by jump consistent
hashing of its seeded key hash, appending to that unit's input file through small buffers. A unit is
the grain of parallelism, of resumption and of shard naming: the output does not depend on the
engine or on the number of workers, and adding a corpus moves few records between units.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import json
import math
import os
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from itertools import islice
from typing import Callable, Iterator

import pyarrow.parquet as pq

from schemas import loader
from schemas.model import DatasetSchema

from . import failpoints, outputs
from .atomic import read_json, write_json, write_jsonl
from .audio import probe_seconds
from .config import DatasetSpec, RunConfig
from .duplicates import Duplicates
from .ingest import BATCH_ROWS as INGEST_BATCH_ROWS
from .ingest import Mapped, ingest_batches
from .keys import jump_bucket, order_key, unit_fraction
from .record import ARROW_SCHEMA, MANIFEST_DICTIONARY_COLUMNS, Drop, Record, columns_table
from .remote import Mirror, is_remote
from .windows import pack_windows
from .sources import local_view

BATCH_ROWS = 4096
#: lines held for one unit file before they are appended to it, and for all of them together: a run
#: with many units (one per ~1,800 records) flushes every buffer when the total is reached, so the
#: planner's memory does not grow with the corpus
PARTITION_BUFFER_BYTES = 1 << 16
UNIT_BUFFERS_BYTES = 1 << 26


class PlanError(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    fingerprint: str
    config: dict
    units: list[str]
    inputs: dict[str, int]  # metadata rows seen per dataset
    ingest_drops: dict[str, int]
    excluded: dict[str, int] = field(default_factory=dict)  # left out by weighting, per dataset
    mix: dict = field(default_factory=dict)  # planned hours per dataset and task

    @staticmethod
    def load(out: str) -> "Plan":
        return Plan(**read_json(outputs.plan_path(out)))

    def run_config(self) -> RunConfig:
        data = dict(self.config)
        data["datasets"] = tuple(
            DatasetSpec(**{**d, "splits": tuple(d["splits"]) if d.get("splits") else None}) for d in data["datasets"]
        )
        return RunConfig(**data)


def load_schemas(config: RunConfig) -> dict[str, DatasetSchema]:
    return {spec.name: loader.load(spec.schema) for spec in config.datasets}


def _schema_texts(config: RunConfig) -> dict[str, str]:
    return {spec.name: loader.resolve(spec.schema).read_text(encoding="utf-8") for spec in config.datasets}


#: metadata items between two progress reports of an ingest
REPORT_EVERY = 5000


def write_manifest(
    schema: DatasetSchema, spec: DatasetSpec, out: str, probe_durations: bool = True, report: Callable[[int], None] | None = None
) -> dict:
    """Ingest one dataset into ``manifests/NAME.parquet`` (streaming); returns its counts.

    Records of splits the run does not select are skipped (they are not input of this run).
    Counts: ``records``, ``drops``, ``groups`` (records per shard group) and ``train_seconds``.
    ``report`` (optional) is called with the number of items (records and drops) read so far, every
    ``REPORT_EVERY`` items and once at the end.
    """
    path = outputs.manifest_path(out, spec.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    root = os.path.abspath(spec.root)
    groups: Counter = Counter()
    train_seconds, unknown = 0.0, 0
    temporary = path + ".partial"
    with pq.ParquetWriter(temporary, ARROW_SCHEMA, compression="zstd", use_dictionary=list(MANIFEST_DICTIONARY_COLUMNS)) as writer:
        probe = _prober(spec, root) if probe_durations else None
        cutter = _vad_cutter(spec, root, schema.windows) if schema.windows and schema.windows.long_audio == "vad" else None
        batches = ingest_batches(schema, spec.name, spec.root, spec.roots)
        if schema.windows is not None:  # long recordings cut into windows: record by record, streaming
            batches = _rebatched(pack_windows((item for batch in batches for item in batch.items()), schema.windows, probe, cutter))

        def drop_rows():
            """Records into the manifest batch by batch; drops yielded into their JSON lines file (never held)."""
            nonlocal train_seconds, unknown
            seen = 0
            for columns, positions, drops in batches:
                if report is not None and (seen + len(positions) + len(drops)) // REPORT_EVERY > seen // REPORT_EVERY:
                    report(seen + len(positions) + len(drops))
                seen += len(positions) + len(drops)
                for _, drop in drops:
                    yield drop.to_row()
                if spec.splits is not None and not set(columns["split"]) <= set(spec.splits):
                    keep = [i for i, split in enumerate(columns["split"]) if split in spec.splits]
                    columns = {name: [column[i] for i in keep] for name, column in columns.items()}
                if not columns["key"]:
                    continue
                if None in columns["seconds"]:
                    columns["seconds"] = [
                        seconds if seconds is not None else _known_seconds(spec, root, probe_durations, columns, i)
                        for i, seconds in enumerate(columns["seconds"])
                    ]
                for role, seconds in zip(columns["role"], columns["seconds"]):
                    if seconds is None:
                        unknown += 1
                    elif role == "train":
                        train_seconds += seconds
                for (role, dataset, split), count in Counter(zip(columns["role"], columns["dataset"], columns["split"])).items():
                    groups[outputs.group_of(role, dataset, split)] += count
                writer.write_table(columns_table(columns))
            if report is not None:
                report(seen)

        drops = write_jsonl(outputs.ingest_drops_path(out, spec.name), drop_rows())
    os.replace(temporary, path)
    return {
        "records": sum(groups.values()),
        "drops": drops,
        "groups": dict(sorted(groups.items())),
        "train_seconds": round(train_seconds, 3),
        "unknown_seconds": unknown,
    }


def _rebatched(items: Iterator[Record | Drop]) -> Iterator[Mapped]:
    while chunk := list(islice(items, INGEST_BATCH_ROWS)):
        yield Mapped.of_items(chunk)


def _known_seconds(spec: DatasetSpec, root: str, probe_durations: bool, columns: dict[str, list], i: int) -> float | None:
    """Record ``i``'s length without decoding: its duration, else (when probing) its audio header's."""
    if columns["duration"][i] is not None or not probe_durations:
        return columns["duration"][i]
    return probe_seconds(_audio_path(spec, root, columns["audio_root"][i], columns["audio"][i]))


def _audio_path(spec: DatasetSpec, root: str, audio_root: str | None, audio: str) -> str:
    """Where a record's audio file is: under the corpus root, or under the extra root it names."""
    base = root if audio_root is None else os.path.abspath(spec.roots[audio_root])
    return os.path.join(base, audio)


def _prober(spec: DatasetSpec, root: str) -> Callable[[Record], float | None]:
    """Length of a whole-file record from its audio header (windowing needs it before the loop below)."""
    def probe(record: Record) -> float | None:
        return probe_seconds(_audio_path(spec, root, record.audio_root, record.audio))

    return probe


def _vad_cutter(spec: DatasetSpec, root: str, policy) -> Callable[[Record], list]:
    """Windows of a long unannotated speech recording, cut at pauses (decodes it: docs/long-form.md)."""
    from .vad import vad_windows

    def cut(record: Record) -> list:
        return vad_windows(_audio_path(spec, root, record.audio_root, record.audio), record, policy.max_seconds, policy.min_seconds)

    return cut


def ingest_dataset(spec: DatasetSpec, out: str, probe_durations: bool = True, report: Callable[[int], None] | None = None) -> dict:
    """Ingest one dataset unless its manifest is already complete for the same schema and root.

    Idempotent and safe to retry (an orchestrator maps this over the datasets of a run). ``report``:
    see ``write_manifest`` (not called when the manifest is already complete).
    """
    schema = loader.load(spec.schema)
    fingerprint = _dataset_fingerprint(spec, probe_durations)
    done_path = outputs.ingest_done_path(out, spec.name)
    if os.path.exists(done_path):
        done = read_json(done_path)
        if done["fingerprint"] == fingerprint and os.path.exists(outputs.manifest_path(out, spec.name)):
            return done
    remote = any(is_remote(root) for root in (spec.root, *spec.roots.values()))
    view = replace(spec, root=local_view(spec.root), roots={k: local_view(v) for k, v in spec.roots.items()})
    counts = write_manifest(schema, view, out, probe_durations and not remote, report)
    done = {"dataset": spec.name, "fingerprint": fingerprint, **counts}
    write_json(done_path, done)
    failpoints.hit("dataset_ingested")
    return done


def _dataset_fingerprint(spec: DatasetSpec, probe_durations: bool) -> str:
    text = loader.resolve(spec.schema).read_text(encoding="utf-8")
    extra = {name: location(path) for name, path in sorted(spec.roots.items())}
    payload = json.dumps([spec.name, location(spec.root), spec.splits, probe_durations, text, extra, _ingest_code()])
    return hashlib.sha256(payload.encode()).hexdigest()


@lru_cache(maxsize=1)
def _ingest_code() -> str:
    """A hash of the code that turns a corpus into records (readers, templates, text normalization):
    a manifest written by other code is not reused on resume."""
    package = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for folder in ("", "layouts", "text"):
        directory = os.path.join(package, folder)
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py") and (folder or name in ("ingest.py", "templates.py", "record.py")):
                with open(os.path.join(directory, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read())
    return digest.hexdigest()


def location(root: str) -> str:
    """A root as the plan records it: an absolute folder, or the URI as given."""
    return root if is_remote(root) else os.path.abspath(root)


def iter_manifest(path: str):
    for _, record in iter_manifest_rows(path):
        yield record


def iter_manifest_rows(path: str):
    """(manifest row, its record) for every row of a manifest, streamed in batches."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield row, Record.from_row(row)


def mix_factors(
    config: RunConfig, train_seconds: dict[str, float], dataset_tasks: dict[str, set[str]] | None = None
) -> dict[str, float]:
    """Expected copies per training record of each dataset: temperature x repeat, then capped, then
    the task weights (``task_weights``): a task's repeat and cap apply to every corpus feeding it, and
    a corpus feeding several weighted tasks takes the smallest of their factors, so no cap is passed."""
    total = sum(train_seconds.values())
    factors = {}
    if config.temperature and total > 0:
        shares = {name: seconds / total for name, seconds in train_seconds.items() if seconds > 0}
        tempered = {name: share ** (1.0 / config.temperature) for name, share in shares.items()}
        norm = sum(tempered.values())
        factors = {name: tempered[name] / norm / shares[name] for name in shares}
    result = {}
    for spec in config.datasets:
        factor = factors.get(spec.name, 1.0) * spec.repeat
        seconds = train_seconds.get(spec.name, 0.0)
        if spec.cap_hours is not None and seconds > 0:
            factor = min(factor, spec.cap_hours * 3600 / seconds)
        result[spec.name] = factor
    if config.task_weights and dataset_tasks:
        task_factor = {}
        for task, weight in config.task_weights.items():
            feeding = [name for name, tasks in dataset_tasks.items() if task in tasks]
            hours = sum(train_seconds.get(name, 0.0) * result[name] for name in feeding) / 3600
            factor = weight.get("repeat", 1.0)
            if weight.get("cap_hours") is not None and hours * factor > weight["cap_hours"]:
                factor = weight["cap_hours"] / hours
            task_factor[task] = factor
        for name, tasks in dataset_tasks.items():
            weighted = [task_factor[t] for t in tasks if t in task_factor]
            if weighted:
                result[name] *= min(weighted)
    return result


def copies_of(factor: float, seed: int, key: str) -> int:
    """How many times a training record enters the mix: floor(factor), plus one with the remainder's chance."""
    whole = math.floor(factor)
    return whole + (1 if unit_fraction(seed, key, "mix") < factor - whole else 0)


class _UnitFiles:
    """Appends JSON lines to many unit input files, buffered per file and in total (each file gets
    its lines in the order they were added, however the buffers were flushed)."""

    def __init__(self, out: str):
        self.out = out
        self.buffers: dict[str, list[str]] = defaultdict(list)
        self.sizes: Counter = Counter()
        self.total = 0

    def add(self, unit: str, line: str) -> None:
        self.buffers[unit].append(line)
        self.sizes[unit] += len(line)
        self.total += len(line)
        if self.sizes[unit] >= PARTITION_BUFFER_BYTES:
            self.flush(unit)
        elif self.total >= UNIT_BUFFERS_BYTES:
            self.flush_all()

    def flush(self, unit: str) -> None:
        path = outputs.unit_input_path(self.out, unit)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(self.buffers.pop(unit)))
        self.total -= self.sizes.pop(unit, 0)

    def flush_all(self) -> None:
        for unit in list(self.buffers):
            self.flush(unit)

    close = flush_all  # at the end of planning: everything written


def _units_per_group(config: RunConfig, expected: dict[str, float]) -> dict[str, int]:
    units = {}
    for group, count in sorted(expected.items()):
        n = max(1, math.ceil(count / config.unit_records))
        if group == "train" and config.shards_multiple_of:
            n = math.ceil(n / config.shards_multiple_of) * config.shards_multiple_of
        units[group] = n
    return units


class _ProgressFile:
    """``report`` for an ingest in another process: the count, written where the parent polls it."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, seen: int) -> None:
        temporary = f"{self.path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(str(seen))
        os.replace(temporary, self.path)


def _progress_of(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """``import pandas`` (or a submodule) fails as if pandas were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not imported by an audioprep ingest process)", name=name)
        return None


def _ingest_process_setup() -> None:
    """Run first in each ingest process. pyarrow imports pandas, when it is installed (Ray Data
    installs it), on its first conversion of a Python list, to ask whether the list is a pandas
    object: ~0.25 CPU s and ~40 MB resident a process, for nothing, as ingest never uses pandas.
    These processes only ingest and exit, so pandas stays refused in them for good (pyarrow
    remembers the answer; never in the run's own process, where an engine may need pandas)."""
    sys.meta_path.insert(0, _WithoutPandas())


def ingest_all(
    config: RunConfig, out: str, progress: Callable[[str], None], processes: int = 1,
    seen: Callable[[str, int], None] | None = None,
) -> dict[str, dict]:
    """``ingest_dataset`` for every dataset of the run, in ``processes`` processes when there are
    several datasets (each writes its own manifest, so the result is the same as one after another).

    ``seen`` (optional) is told, from this thread, how many metadata items each dataset's ingest has
    read so far (a progress display; processes report through a file each, polled twice a second)."""
    specs = list(config.datasets)
    processes = max(1, min(processes, len(specs)))
    if processes == 1:
        counts = {}
        for spec in specs:
            progress(f"ingest {spec.name} from {spec.root}")
            report = None if seen is None else (lambda n, name=spec.name: seen(name, n))
            counts[spec.name] = ingest_dataset(spec, out, config.probe_durations, report)
        return counts
    import multiprocessing
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # fork when this process runs no other thread (a child then costs nothing to start); spawn when
    # one runs (an engine's client, a progress display), as forking a threaded process is unsafe
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    files = {spec.name: outputs.ingest_progress_path(out, spec.name) for spec in specs}
    for path in files.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)  # an earlier attempt's count

    def poll() -> None:
        for name, path in files.items():
            count = _progress_of(path)
            if count is not None:
                seen(name, count)

    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context(method),
                             initializer=_ingest_process_setup) as pool:
        futures = {}
        for spec in specs:
            progress(f"ingest {spec.name} from {spec.root}")
            report = None if seen is None else _ProgressFile(files[spec.name])
            futures[spec.name] = pool.submit(ingest_dataset, spec, out, config.probe_durations, report)
        running = set(futures.values())
        while running and seen is not None:
            _, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            poll()
        counts = {}
        for name, future in futures.items():
            try:
                counts[name] = future.result()
            except BrokenProcessPool as exc:  # killed (out of memory?) or crashed in native code
                raise PlanError(
                    f"ingesting {name} (or a corpus beside it) stopped: its process died ({exc}); "
                    "rerun with --workers 1 to ingest one corpus at a time in this process"
                ) from exc
        for path in files.values():
            if os.path.exists(path):
                os.remove(path)
        return counts


def make_plan(
    config: RunConfig, progress: Callable[[str], None] = lambda _: None, processes: int = 1,
    seen: Callable[[str, int], None] | None = None,
) -> Plan:
    """Ingest, weight and partition, or reuse the plan already in ``config.out`` when it is the same work.

    ``processes``: how many datasets are ingested at once (the run's worker count on one machine);
    ``seen``: told how many metadata items each dataset's ingest has read (``ingest_all``)."""
    out = config.local_out
    mirror = Mirror(out, config.remote)
    schemas = load_schemas(config)
    fingerprint = config.fingerprint(_schema_texts(config))
    if mirror.fetch(outputs.plan_path(out)):
        existing = Plan.load(out)
        if existing.fingerprint != fingerprint:
            raise PlanError(
                f"{out} holds a run with a different configuration or schemas; "
                "use a new output folder, or --overwrite to start over"
            )
        return existing
    for spec in config.datasets:  # ingest records finished by an earlier attempt elsewhere
        mirror.fetch(outputs.ingest_done_path(out, spec.name))
        mirror.fetch(outputs.manifest_path(out, spec.name))
        mirror.fetch(outputs.ingest_drops_path(out, spec.name))
    counts = ingest_all(config, out, progress, processes, seen)
    factors = mix_factors(
        config,
        {name: c["train_seconds"] for name, c in counts.items()},
        {spec.name: {binding.task for binding in schemas[spec.name].tasks} for spec in config.datasets},
    )
    expected: Counter = Counter()
    for name, c in counts.items():
        for group, n in c["groups"].items():
            expected[group] += n * (factors[name] if group == "train" else 1.0)
    units_per_group = _units_per_group(config, expected)

    progress("partition records into work units")
    units_dir = os.path.dirname(outputs.unit_input_path(out, "x"))
    shutil.rmtree(units_dir, ignore_errors=True)  # leftovers of a planning that did not finish
    os.makedirs(units_dir)
    files = _UnitFiles(out)
    excluded: Counter = Counter()
    planned = {name: Counter({"train_hours": 0.0, "train_samples": 0, "eval_hours": 0.0, "eval_samples": 0}) for name in counts}
    progress("look for duplicates within and across corpora")
    with Duplicates(
        {s.name: {None: location(s.root), **{k: location(v) for k, v in s.roots.items()}} for s in config.datasets},
        {s.name: tuple(sorted({b.task for b in schemas[s.name].tasks})) for s in config.datasets},
        scratch=os.path.join(out, outputs.WORK),
    ) as duplicates:
        duplicates.find((s.name, r) for s in config.datasets for r in iter_manifest(outputs.manifest_path(out, s.name)))
        plan_drops: list[dict] = []
        for spec in config.datasets:
            tasks = sorted({binding.task for binding in schemas[spec.name].tasks})
            for row, record in iter_manifest_rows(outputs.manifest_path(out, spec.name)):
                duplicate = duplicates.check(spec.name, record)
                if duplicate is not None:  # quarantined by the plan: the first occurrence is kept
                    plan_drops.append(duplicate.to_row())
                    continue
                group = outputs.group_of(record.role, record.dataset, record.split)
                n = 1 if record.role != "train" else copies_of(factors[spec.name], config.seed, record.key)
                if n == 0:
                    excluded[spec.name] += 1
                    continue
                seconds = (record.seconds or 0.0) * n
                planned[spec.name][f"{record.role}_hours"] += seconds
                planned[spec.name][f"{record.role}_samples"] += n
                for task in tasks:
                    planned[spec.name][f"task:{task}"] += seconds
                for copy in range(n):
                    # the record itself as its manifest row was read (the same JSON as its to_row()); repeats renamed
                    item = row if copy == 0 else {**row, "key": f"{record.key}-r{copy}", "copy": copy}
                    rank = order_key(config.seed, item["key"])
                    unit = outputs.unit_id(group, jump_bucket(int(rank, 16), units_per_group[group]))
                    files.add(unit, json.dumps({"order": rank, "record": item}, ensure_ascii=False) + "\n")
    files.close()
    write_jsonl(outputs.plan_drops_path(out), plan_drops)
    units = [outputs.unit_id(g, n) for g, count in units_per_group.items() for n in range(count)]
    mix = {
        name: {
            "factor": round(factors[name], 6),
            "available_train_hours": round(counts[name]["train_seconds"] / 3600, 4),
            "unknown_durations": counts[name]["unknown_seconds"],
            **{k: v if k.endswith("_samples") else round(v / 3600, 4) for k, v in sorted(planned[name].items())},
        }
        for name in counts
    }
    config_dict = asdict(config)
    config_dict["datasets"] = [
        {**d, "root": location(d["root"]), "roots": {k: location(v) for k, v in d["roots"].items()}}
        for d in config_dict["datasets"]
    ]
    config_dict["work_dir"] = None  # machine-specific: every machine has its own mirror folder
    plan = Plan(
        fingerprint,
        config_dict,
        units,
        inputs={name: c["records"] + c["drops"] for name, c in counts.items()},
        ingest_drops={name: c["drops"] for name, c in counts.items()},
        excluded=dict(sorted(excluded.items())),
        mix=mix,
    )
    for spec in config.datasets:
        for path in (outputs.manifest_path(out, spec.name), outputs.ingest_drops_path(out, spec.name), outputs.ingest_done_path(out, spec.name)):
            mirror.push(path)
    mirror.push(outputs.plan_drops_path(out))
    for unit in units:
        if os.path.exists(outputs.unit_input_path(out, unit)):
            mirror.push(outputs.unit_input_path(out, unit))
    write_json(outputs.plan_path(out), asdict(plan))
    mirror.push(outputs.plan_path(out))  # last: a plan in the bucket means everything it names is there
    failpoints.hit("after_plan")
    return plan
