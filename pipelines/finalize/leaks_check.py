"""What ``audioprep verify`` checks of a built output's origins: no training sample is an evaluation sample's clip.

Planning quarantines such records (``plan/leaks.py``), but an output may have been built before
its schemas declared origins, by code that did not check, or with shards put together from several
runs. Origins are kept in the run's manifests, not in the shards, so verify reads them there:
the origins of the records written to evaluation shards are indexed (the planner's own index,
``EvalOrigins``), then every record written to training shards is checked against them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.core import outputs
from pipelines.core.remote import Mirror
from pipelines.ingest.manifest import iter_manifest
from pipelines.plan.leaks import EvalOrigins


@dataclass
class LeakFindings:
    problems: list[str] = field(default_factory=list)  # training samples that are evaluation clips
    notes: list[str] = field(default_factory=list)  # what could not be checked


def find_leaks(out: str, mirror: Mirror, datasets: list[str], roles: dict[str, str]) -> LeakFindings:
    """Training samples of the output in ``out`` whose origin overlaps an evaluation sample's;
    ``roles``: the role of the shards each written key is in (``train`` / ``eval``)."""
    found = LeakFindings()
    manifests = []
    for name in datasets:
        path = outputs.manifest_path(out, name)
        if mirror.fetch(path):
            manifests.append((name, path))
        else:
            found.notes.append(f"{path} is missing: the origins of {name} were not checked for evaluation leaks")
    with EvalOrigins() as index:
        index.add_records(
            (name, record) for name, path in manifests for record in iter_manifest(path) if roles.get(record.key) == "eval"
        )
        if not len(index):
            return found
        index.freeze()
        for name, path in manifests:
            for record in iter_manifest(path):
                if roles.get(record.key) == "train":
                    leak = index.check(name, record)
                    if leak is not None:
                        detail = leak.detail.removesuffix(": kept out of training")  # planning's words: here it was not
                        found.problems.append(f"training sample {record.key} is an evaluation clip: {detail}")
    return found
