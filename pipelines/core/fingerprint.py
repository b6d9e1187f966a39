"""Fingerprints of the code that shapes output: work done by other code is never reused on resume.

``code_digest`` hashes the sources of the given packages, modules and data files of the project (paths
relative to the project's top folder, folders walked in sorted order; ``folder/*.py`` takes the
``.py`` files of that folder only), so a manifest, plan or shard written by other code is redone or
refused instead of being mixed with new output. ``code_identity`` adds the package's version: two
machines with the same identity write the same bytes from the same inputs.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from functools import lru_cache

#: the project's top folder (holding pipelines/, schemas/, tag_builder/)
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: the schema language's code (the schema files themselves are fingerprinted by their content)
SCHEMA_CODE = "schemas/*.py"

#: what turns a corpus into manifest records: readers, text normalization, windows, word times, VAD,
#: the record type, keys, audio headers, the schema language and the language tokens
INGEST_SOURCES = ("pipelines/ingest", "pipelines/core", SCHEMA_CODE, "tag_builder")

#: what shapes a run's plan, unit inputs and shards: ingest's sources and the plan and prepare stages
#: (tasks, prompts and the token vocabulary of tag_builder/ included, with its data files)
OUTPUT_SOURCES = ("pipelines/core", "pipelines/ingest", "pipelines/plan", "pipelines/prepare", SCHEMA_CODE, "tag_builder")

_SUFFIXES = (".py", ".txt", ".yaml")


def _files(path: str) -> list[str]:
    """The files ``path`` names: one file, a folder's tree, or ``folder/pattern`` (that folder only)."""
    full = os.path.join(TOP, path)
    if os.path.isfile(full):
        return [full]
    if "*" in os.path.basename(path):
        folder = os.path.dirname(full)
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if fnmatch.fnmatch(n, os.path.basename(path)))
    return sorted(
        os.path.join(folder, name)
        for folder, dirs, names in os.walk(full)
        for name in names
        if name.endswith(_SUFFIXES) and "__pycache__" not in folder
    )


@lru_cache(maxsize=None)
def code_digest(paths: tuple[str, ...]) -> str:
    """sha256 over every ``.py``/``.txt``/``.yaml`` file under ``paths`` (name and content)."""
    digest = hashlib.sha256()
    for path in paths:
        for name in _files(path):
            with open(name, "rb") as handle:
                digest.update(os.path.relpath(name, TOP).encode() + b"\0" + handle.read())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed audioprep's version ("unknown" when the project runs uninstalled)."""
    from importlib import metadata

    try:
        return metadata.version("audioprep")
    except metadata.PackageNotFoundError:
        return "unknown"


def code_identity(paths: tuple[str, ...] = OUTPUT_SOURCES) -> dict[str, str]:
    """``{"version": ..., "code": ...}``: the package version and the digest of ``paths``."""
    return {"version": package_version(), "code": code_digest(paths)}


def describe_identity(identity: dict) -> str:
    """``audioprep 0.1.0, code 1a2b3c4d5e6f`` (or that an output recorded none)."""
    if not identity.get("code"):
        return "an earlier audioprep that recorded no code fingerprint"
    return f"audioprep {identity.get('version', 'unknown')}, code {identity['code'][:12]}"
