"""Before any work: does the schema's metadata pattern match anything under the corpus root?

A root one level off (``.../aishell`` when the schema's paths start below ``data_aishell/``, or
``.../nsynth-test`` when they start at its parent) would otherwise ingest nothing and end as an empty
run. ``check_root`` fails naming the root and the pattern, and suggests the folder where the pattern
matches when there is one within two levels above or below. The search stops at the first matching
file of each folder tried, and tries at most ``MAX_FOLDERS`` folders.
"""
from __future__ import annotations

import os
from itertools import islice

from schemas.model import DatasetSchema

from pipelines.core.config import DatasetSpec
from pipelines.core.remote import is_remote
from pipelines.ingest.layouts.paths import match_files

#: folders tried when looking for the one the pattern matches in
MAX_FOLDERS = 200


class RootError(ValueError):
    """The corpus root holds no file the schema's metadata pattern matches."""


def patterns(schema: DatasetSchema) -> tuple[str, ...]:
    """The layout's path patterns (none for a plugin reader that declares none)."""
    files = getattr(schema.layout, "files", None)
    if files is None:
        return ()
    return (files,) if isinstance(files, str) else tuple(files)


def matches(root: str, pattern_list: tuple[str, ...]) -> bool:
    """Whether one file under ``root`` matches one of the patterns (stops at the first)."""
    return any(next(islice(match_files(root, p), 1), None) is not None for p in pattern_list)


def check_root(schema: DatasetSchema, spec: DatasetSpec) -> None:
    """``RootError`` when no file under the local root ``spec.root`` matches the layout's patterns."""
    found = patterns(schema)
    if not found or is_remote(spec.root) or not os.path.isdir(spec.root) or matches(spec.root, found):
        return
    root = os.path.abspath(spec.root)
    shown = " or ".join(repr(p) for p in found)
    better = next((folder for folder in _nearby(root) if matches(folder, found)), None)
    if better is not None:
        hint = f"it matches under {better}: give --dataset {spec.name}={better}"
    else:
        hint = "nor anywhere within two levels above or below it: is this the corpus the schema describes?"
    raise RootError(f"corpus root {root} for corpus {spec.name!r}: the schema's metadata pattern {shown} matches no file there; {hint}")


def _nearby(root: str):
    """Folders within two levels of ``root``: its parent and grandparent, then its sub- and sub-subfolders."""
    parent = os.path.dirname(root)
    for up in dict.fromkeys((parent, os.path.dirname(parent))):
        if up not in (root, os.path.dirname(up)):  # never the filesystem's root
            yield up
    tried = 0
    level = [root]
    for _ in range(2):
        below = []
        for folder in level:
            try:
                names = sorted(e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
            except OSError:
                continue
            for name in names:
                if tried == MAX_FOLDERS:
                    return
                tried += 1
                below.append(os.path.join(folder, name))
                yield below[-1]
        level = below
