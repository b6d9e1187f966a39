"""``audioprep verify OUT``: re-read every shard against the index and the summary.

Checks per shard: present, size and sha256 as indexed, a valid tar, every key has exactly its
``.flac`` and ``.json``, the audio decodes to 16 kHz mono of the length its JSON states, every
prompt is made of vocabulary tokens and no target spells one, no window runs across a segment
dropped at ingest (``windows_check``), the JSON's ``pcm_sha256`` is the decoded audio's, sample
counts and seconds match. Then: no key twice across shards, the summary balances, no training
sample is an evaluation clip by its origin (``leaks_check``, from the manifests), and (when the
output keeps its ``_work`` folder) every unit's completion record carries the plan's fingerprint and
every manifest is the one the plan was made from: an output whose parts were made by different code
or inputs is reported. With ``duplicates``, audio written twice (``repeats``: bit-identical PCM) is
listed: joining training and evaluation samples it is a problem, across corpora a note.
"""
from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Callable

from tag_builder.views import check_view
from tag_builder.vocabulary import UnknownTokenError

from pipelines.core import audio, outputs
from pipelines.core.atomic import read_json
from pipelines.core.remote import Mirror, is_remote
from pipelines.finalize.leaks_check import find_leaks
from pipelines.finalize.repeats import RepeatedAudio, find_repeated_audio
from pipelines.finalize.windows_check import DroppedSpans


@dataclass
class Report:
    shards: int = 0
    samples: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong: audio shared across corpora

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_sample(shard: str, key: str, members: dict[str, bytes], problems: list[str], dropped: DroppedSpans) -> tuple[float, dict]:
    """The sample's seconds and its JSON (empty when it cannot be read); findings go to ``problems``."""
    if sorted(members) != ["flac", "json"]:
        problems.append(f"{shard}: sample {key} has members {sorted(members)}, expected flac and json")
        return 0.0, {}
    try:
        meta = json.loads(members["json"])
    except ValueError as exc:
        problems.append(f"{shard}: {key}.json is not JSON: {exc}")
        return 0.0, {}
    try:
        samples, rate, channels = audio.decode_flac(members["flac"])
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding
        problems.append(f"{shard}: {key}.flac does not decode: {exc}")
        return 0.0, {}
    seconds = len(samples) / rate
    if "pcm_sha256" in meta and channels == 1 and audio.pcm_sha256(audio.Clip(samples)) != meta["pcm_sha256"]:
        problems.append(f"{shard}: {key}.flac does not hash to the pcm_sha256 of its JSON")
    if rate != audio.TARGET_RATE or channels != 1:
        problems.append(f"{shard}: {key}.flac is {rate} Hz with {channels} channels, expected 16000 Hz mono")
    if meta.get("key") != key:
        problems.append(f"{shard}: {key}.json names key {meta.get('key')!r}")
    if abs(meta.get("duration", -1) - seconds) > 1e-3:
        problems.append(f"{shard}: {key} lasts {seconds:.4f} s, its JSON says {meta.get('duration')}")
    if seconds > audio.MAX_SECONDS + 1e-6:
        problems.append(f"{shard}: {key} lasts {seconds:.2f} s, over the 30 s limit")
    for crossed in dropped.crossed(meta):
        problems.append(f"{shard}: window {key} runs across a segment dropped at ingest: {crossed}")
    if not meta.get("tasks"):
        problems.append(f"{shard}: {key} has no task views")
    for view in meta.get("tasks", []):
        try:  # the task's own rules: tokens only, a question prompt's text, a fields target's tokens
            check_view(view.get("task", ""), view["prompt"], view.get("target", ""))
        except UnknownTokenError as exc:
            problems.append(f"{shard}: {key} task {view.get('task')}: {exc}")
    return seconds, meta


def verify(out: str, advance: Callable[[int], None] = lambda n: None, duplicates: bool = False) -> Report:
    """Verify the run in the folder ``out``, or in ``s3://bucket/prefix/`` (shards fetched one at a time);
    with ``duplicates``, list the audio written twice as well."""
    with tempfile.TemporaryDirectory(prefix="audioprep-verify-") as scratch:
        heard = _Heard(os.path.join(scratch, "audio.tsv")) if duplicates else None
        if not is_remote(out):
            report = _verify(out, Mirror(out), advance, heard)
        else:
            os.makedirs(os.path.join(scratch, "run"))
            report = _verify(os.path.join(scratch, "run"), Mirror(os.path.join(scratch, "run"), out), advance, heard)
        if heard is not None:
            heard.close()
            _report_repeats(report, find_repeated_audio(heard.entries, scratch))
        return report


class _Heard:
    """(PCM digest, role, dataset, key) of every sample read, in a scratch file (read twice by ``repeats``)."""

    def __init__(self, path: str):
        self.path = path
        self.handle = open(path, "w", encoding="utf-8")

    def add(self, meta: dict, role: str) -> None:
        if meta.get("pcm_sha256"):  # a weighting repeat is listed with its record: one set, never reported alone
            self.handle.write(f"{meta['pcm_sha256']}\t{role}\t{meta.get('dataset')}\t{meta.get('key')}\n")

    def close(self) -> None:
        self.handle.close()

    def entries(self):
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                yield tuple(line.rstrip("\n").split("\t"))


def _report_repeats(report: Report, repeated: RepeatedAudio) -> None:
    for digest, group in zip(repeated.digests, repeated.groups):
        where = " and ".join(f"{key} ({role} {dataset})" for role, dataset, key in group)
        if len({role for role, _, _ in group}) > 1:
            report.problems.append(f"identical audio in training and evaluation (pcm_sha256 {digest[:16]}…): {where}")
        else:
            report.notes.append(f"identical audio across corpora (pcm_sha256 {digest[:16]}…): {where}")


def _verify(out: str, mirror: Mirror, advance: Callable[[int], None], heard: "_Heard | None") -> Report:
    report = Report()
    index_path = os.path.join(out, outputs.INDEX)
    if not mirror.fetch(index_path):
        report.problems.append(f"{index_path} is missing: the run has not finished")
        return report
    index = read_json(index_path)
    mirror.fetch(os.path.join(out, outputs.QUARANTINE))
    dropped = DroppedSpans.of_run(out)
    seen: dict[str, str] = {}
    roles: dict[str, str] = {}  # key -> role of its shard, for the origins check
    for entry in index["shards"]:
        report.shards += 1
        path = os.path.join(out, entry["path"])
        if not mirror.fetch(path):
            report.problems.append(f"{entry['path']}: listed in the index but missing")
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if os.path.getsize(path) != entry["bytes"] or digest.hexdigest() != entry["sha256"]:
            report.problems.append(f"{entry['path']}: size or sha256 differs from the index")
        samples, seconds = 0, 0.0
        role = outputs.role_of_group(entry["group"])

        def check(key: str, members: dict[str, bytes]) -> float:
            found, meta = _check_sample(entry["path"], key, members, report.problems, dropped)
            roles[key] = role
            if heard is not None:
                heard.add(meta, role)
            return found

        try:
            with tarfile.open(path, "r:") as tar:
                current, members = None, {}
                for member in tar:
                    stem, _, ext = member.name.partition(".")
                    if stem != current:
                        if current is not None:
                            seconds += check(current, members)
                            samples += 1
                        if stem in seen:
                            report.problems.append(f"{entry['path']}: key {stem} also in {seen[stem]}")
                        seen[stem] = entry["path"]
                        current, members = stem, {}
                    members[ext] = tar.extractfile(member).read()
                if current is not None:
                    seconds += check(current, members)
                    samples += 1
        except tarfile.TarError as exc:
            report.problems.append(f"{entry['path']}: not a valid tar: {exc}")
        if samples != entry["samples"]:
            report.problems.append(f"{entry['path']}: {samples} samples, the index says {entry['samples']}")
        if abs(seconds - entry["seconds"]) > 0.01:
            report.problems.append(f"{entry['path']}: {seconds:.3f} s of audio, the index says {entry['seconds']}")
        report.samples += samples
        report.seconds += seconds
        if mirror.uri is not None:
            os.remove(path)  # a scratch copy: keep the disk flat however large the run
        advance(1)
    report.problems += mixed_fingerprints(out, mirror)
    summary_path = os.path.join(out, outputs.SUMMARY)
    if mirror.fetch(summary_path):
        summary = read_json(summary_path)
        if summary["input"] != summary["written"] + summary["quarantined"] + summary.get("excluded", 0):
            report.problems.append(
                f"summary does not balance: input {summary['input']} != written {summary['written']} "
                f"+ quarantined {summary['quarantined']} + excluded {summary.get('excluded', 0)}"
            )
        if summary.get("samples", summary["written"]) != report.samples:
            report.problems.append(f"summary says {summary.get('samples')} samples, the shards hold {report.samples}")
        leaks = find_leaks(out, mirror, sorted(summary.get("datasets", {})), roles)
        report.problems += leaks.problems
        report.notes += leaks.notes
    else:
        report.problems.append(f"{summary_path} is missing")
    return report


def mixed_fingerprints(out: str, mirror: Mirror) -> list[str]:
    """Completion records that do not carry the plan's fingerprint, manifests ingested again since the
    plan; nothing for an output without ``_work`` or one made before records carried fingerprints."""
    if not mirror.fetch(outputs.plan_path(out)):
        return []
    plan = read_json(outputs.plan_path(out))
    units = {}
    for unit in plan["units"]:
        path = outputs.unit_done_path(out, unit)
        if mirror.fetch(path):
            units[unit] = read_json(path).get("fingerprint")
    if not any(units.values()):
        return []
    problems = [
        f"{os.path.relpath(outputs.unit_done_path(out, unit), out)}: made under fingerprint {found or '(none)'}, "
        f"the plan's is {plan['fingerprint']}: this output mixes work of different code or inputs"
        for unit, found in sorted(units.items())
        if found != plan["fingerprint"]
    ]
    for name, expected in sorted(plan.get("provenance", {}).get("manifests", {}).items()):
        path = outputs.ingest_done_path(out, name)
        found = read_json(path).get("fingerprint") if mirror.fetch(path) else None
        if found != expected:
            problems.append(
                f"{os.path.relpath(outputs.manifest_path(out, name), out)}: ingested again (fingerprint {found}) after the plan "
                f"was made from fingerprint {expected}: the units were planned from another manifest"
            )
    return problems
