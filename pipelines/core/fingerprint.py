"""Fingerprints of the code that shapes output: work done by other code is never reused on resume.

``code_digest`` hashes the sources of the given packages, modules and data files of the project (paths
relative to the project's top folder, folders walked in sorted order), so a manifest, plan or shard
written by other code is redone or refused instead of being mixed with new output.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

#: the project's top folder (holding pipelines/, schemas/, tag_builder/)
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: what turns a corpus into manifest records: readers, text normalization, windows, the record type
INGEST_SOURCES = ("pipelines/ingest", "pipelines/core/record.py", "pipelines/core/keys.py", "schemas/templates.py")


@lru_cache(maxsize=None)
def code_digest(paths: tuple[str, ...]) -> str:
    """sha256 over every ``.py``/``.txt``/``.yaml`` file under ``paths`` (name and content)."""
    digest = hashlib.sha256()
    for path in paths:
        full = os.path.join(TOP, path)
        files = [full] if os.path.isfile(full) else sorted(
            os.path.join(folder, name)
            for folder, dirs, names in os.walk(full)
            for name in names
            if name.endswith((".py", ".txt", ".yaml")) and "__pycache__" not in folder
        )
        for name in sorted(files):
            with open(name, "rb") as handle:
                digest.update(os.path.relpath(name, TOP).encode() + b"\0" + handle.read())
    return digest.hexdigest()
