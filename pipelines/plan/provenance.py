"""What made a plan, and what changed since: the fingerprint every completion record carries.

A plan records its provenance: the package version and the digest of the code that shapes output
(``core.fingerprint.OUTPUT_SOURCES``), the digest of the run config (``RunConfig.digest``) and of each
schema's content, and the ingest fingerprint of each manifest it was planned from. Its fingerprint
hashes the first four; every unit's completion record carries it. A rerun whose provenance differs is
refused with what changed (``describe_change``); a worker running other code refuses the plan
(``check_worker``), so a cluster of mixed versions fails loudly instead of mixing their shards.
"""
from __future__ import annotations

import hashlib
import json

from pipelines.core.config import NOT_FINGERPRINTED, RunConfig
from pipelines.core.fingerprint import OUTPUT_SOURCES, code_identity, describe_identity
from pipelines.plan.model import Plan, PlanError, schema_texts

#: the provenance entries the fingerprint hashes (``manifests`` is recorded, not hashed: it is known
#: only after ingest, and follows from these)
FINGERPRINTED = ("version", "code", "config", "schemas")


def run_provenance(config: RunConfig) -> dict:
    """The provenance a plan of ``config`` made by this code has (``manifests`` added once ingested)."""
    schemas = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in schema_texts(config).items()}
    return {**code_identity(OUTPUT_SOURCES), "config": config.digest(), "schemas": schemas}


def fingerprint_of(provenance: dict) -> str:
    """The fingerprint of a provenance: what the plan and every unit's completion record carry."""
    payload = {key: provenance.get(key) for key in FINGERPRINTED}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def describe_change(existing: Plan, provenance: dict, config: dict) -> list[str]:
    """What differs between the plan in an output and this run (``config``: as ``plan_config`` records it)."""
    old = existing.provenance
    if not old:
        return [f"it was made by {describe_identity(old)} (before this version of audioprep)"]
    changes = []
    if (old.get("version"), old.get("code")) != (provenance["version"], provenance["code"]):
        changes.append(
            f"the code that shapes output changed: made by {describe_identity(old)}, this is {describe_identity(provenance)}"
        )
    if old.get("config") != provenance["config"]:
        fields = _config_fields(existing.config, config)
        changes.append("the configuration changed" + (f" ({', '.join(fields)})" if fields else ""))
    schemas = sorted(n for n in {*old.get("schemas", {}), *provenance["schemas"]}
                     if old.get("schemas", {}).get(n) != provenance["schemas"].get(n))
    if schemas:
        changes.append(f"the schema of {', '.join(schemas)} changed")
    return changes or ["its fingerprint differs"]


def _config_fields(old: dict, new: dict) -> list[str]:
    """The run config's fields that differ (a dataset's fields named ``datasets[NAME].FIELD``), compared
    as JSON holds them (a tuple and the list it was written as are the same value)."""
    old, new = json.loads(json.dumps(old, default=str)), json.loads(json.dumps(new, default=str))
    changed = []
    for key in sorted({*old, *new} - set(NOT_FINGERPRINTED)):
        if key == "datasets":
            before = {d["name"]: d for d in old.get(key, [])}
            after = {d["name"]: d for d in new.get(key, [])}
            for name in sorted({*before, *after}):
                if name not in before or name not in after:
                    changed.append(f"dataset {name} {'added' if name in after else 'removed'}")
                else:
                    changed += [f"datasets[{name}].{k}" for k in sorted({*before[name], *after[name]})
                                if before[name].get(k) != after[name].get(k)]
        elif old.get(key) != new.get(key):
            changed.append(key)
    return changed


def check_worker(plan: Plan, out: str) -> None:
    """PlanError unless this process runs the code that made ``plan`` (a worker of another version)."""
    mine = code_identity(OUTPUT_SOURCES)
    made = plan.provenance
    if (made.get("version"), made.get("code")) != (mine["version"], mine["code"]):
        raise PlanError(
            f"the plan in {out} was made by {describe_identity(made)}, but this worker runs "
            f"{describe_identity(mine)}: run every machine of a run on the same audioprep (install the "
            "plan's version on the workers, or plan again into a new output with this one)"
        )
