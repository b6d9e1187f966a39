"""Path patterns: ``"{split}/{speaker}/{chapter}/{speaker}-{chapter}.trans.txt"`` matched against a tree.

The walk is streaming and sorted (deterministic), descends only into folders whose names can match
the pattern's segment at that depth, and never follows a symlink out of the root. A placeholder
matches within one path segment; ``{name:regex}`` only where the regex matches (``{split:train|dev|test}``);
``*`` matches any run of characters within a segment; a name used twice must match the same text both times.
"""
from __future__ import annotations

import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}/]+))?\}|\*")


@dataclass(frozen=True)
class Segment:
    regex: re.Pattern[str]
    names: tuple[str, ...]


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> tuple[Segment, ...]:
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ValueError(f"path pattern {pattern!r} must stay inside the corpus root")
    segments = []
    for text in pattern.split("/"):
        regex, names, pos = [], [], 0
        for match in _TOKEN.finditer(text):
            regex.append(re.escape(text[pos : match.start()]))
            name = match.group(1)
            if name is None:
                regex.append("[^/]*")
            elif name in names:
                regex.append(f"(?P={name})")
            else:
                regex.append(f"(?P<{name}>{match.group(2) or '[^/]+?'})")
                names.append(name)
            pos = match.end()
        regex.append(re.escape(text[pos:]))
        try:
            compiled = re.compile("".join(regex))
        except re.error as exc:
            raise ValueError(f"path pattern {pattern!r}: {exc}") from None
        segments.append(Segment(compiled, tuple(names)))
    return tuple(segments)


def path_fields(relpath: str) -> dict[str, str]:
    """The fields every matched file has: path, dir, name, stem."""
    directory, name = os.path.split(relpath)
    return {"path": relpath, "dir": directory or ".", "name": name, "stem": os.path.splitext(name)[0]}


def pattern_fields(pattern: str, relpath: str, whole: bool = False) -> dict[str, str] | None:
    """The placeholders of ``pattern`` in ``relpath``; with ``whole``, None unless every part fits."""
    segments, parts = compile_pattern(pattern), relpath.split("/")
    if whole and len(segments) != len(parts):
        return None
    fields: dict[str, str] = {}
    for segment, part in zip(segments, parts):
        match = segment.regex.fullmatch(part)
        if match is not None:
            fields.update(match.groupdict())
        elif whole:
            return None
    return fields


def inside(root: str, path: str) -> bool:
    """True when ``path`` (after resolving symlinks) lies inside ``root``."""
    return _within(os.path.realpath(root), os.path.realpath(path))


class Locator:
    """Whether a path lies inside a root (after resolving symlinks) and whether it is a regular file,
    for ingest, which checks every record's audio path.

    A folder is resolved and listed once (``os.scandir`` gives each entry's type without a ``stat``),
    so a plain file in it costs two dictionary lookups instead of a system call; a symlink is
    resolved in full. Memory stays bounded: a folder of more than ``FOLDER_ENTRIES`` entries is not
    held (its files cost one ``lstat`` each), and the oldest listings are let go past
    ``HELD_ENTRIES`` entries in all."""

    FOLDER_ENTRIES = 100_000
    HELD_ENTRIES = 400_000

    def __init__(self) -> None:
        self.real: dict[str, str] = {}  # root -> its resolved path
        #: (root, folder) -> (resolved folder, whether it lies inside the root, name -> kind or None)
        self.folders: OrderedDict[tuple[str, str], tuple[str, bool, dict[str, int] | None]] = OrderedDict()
        self.held = 0

    def __call__(self, root: str, relpath: str) -> tuple[bool, bool]:
        """``relpath``: normalized (``os.path.normpath``), relative to ``root`` (absolute)."""
        folder, _, name = relpath.rpartition("/")
        found = self.folders.get((root, folder)) or self._folder(root, folder)
        real_dir, within, listing = found
        if name in ("", ".", ".."):
            kind = _LINK
        elif listing is not None:
            kind = listing.get(name)
        else:
            kind = _kind(os.path.join(root, relpath))
        if kind == _LINK:
            path = os.path.join(root, relpath)
            return _within(self.real[root], os.path.realpath(path)), os.path.isfile(path)
        if not within:  # a folder outside the root holds nothing inside it, unless it holds the root itself
            within = _within(self.real[root], os.path.join(real_dir, name))
        return within, kind == _FILE

    def _folder(self, root: str, folder: str) -> tuple[str, bool, dict[str, int] | None]:
        directory = f"{root}/{folder}" if folder else root
        real_root = self.real.get(root) or self.real.setdefault(root, os.path.realpath(root))
        real_dir = os.path.realpath(directory)
        listing: dict[str, int] | None = {}
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if len(listing) == self.FOLDER_ENTRIES:
                        listing = None  # too big to hold: lstat its files one by one
                        break
                    listing[entry.name] = (
                        _LINK if entry.is_symlink() else _FILE if entry.is_file(follow_symlinks=False) else _OTHER
                    )
        except OSError:
            pass  # no such folder (or unreadable): none of its files exists for ingest
        found = self.folders[(root, folder)] = (real_dir, _within(real_root, real_dir), listing)
        self.held += len(listing or ())
        while self.held > self.HELD_ENTRIES and len(self.folders) > 1:
            _, (_, _, dropped) = self.folders.popitem(last=False)
            self.held -= len(dropped or ())
        return found


def _kind(path: str) -> int | None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return _LINK if stat.S_ISLNK(mode) else _FILE if stat.S_ISREG(mode) else _OTHER


_FILE, _LINK, _OTHER = 1, 2, 3


def _within(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root + os.sep)


def match_files(root: str, pattern: str, refused: list[str] | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(relative path, fields)`` for every file under ``root`` matching ``pattern``, sorted.

    A matching symlink that leads out of the root is never followed; its relative path is appended
    to ``refused`` when a list is given (as soon as it is met), so a reader can report it.
    A list of patterns is read pattern after pattern, in its order."""
    if not isinstance(pattern, str):
        for one in pattern:
            yield from match_files(root, one, refused)
        return
    segments = compile_pattern(pattern)
    real_root = os.path.realpath(root)

    def walk(directory: str, rel: str, depth: int, fields: dict[str, str]):
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return
        segment = segments[depth]
        last = depth == len(segments) - 1
        for entry in entries:
            match = segment.regex.fullmatch(entry.name)
            if match is None:
                continue
            found = dict(fields)
            clash = False
            for name, value in match.groupdict().items():
                if found.setdefault(name, value) != value:
                    clash = True
            if clash:
                continue
            relpath = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_symlink() and not inside(real_root, entry.path):
                if refused is not None:
                    refused.append(relpath)
                continue  # never follow a link out of the corpus root
            if last:
                if entry.is_file():
                    yield relpath, {**path_fields(relpath), **found}
            elif entry.is_dir():
                yield from walk(entry.path, relpath, depth + 1, found)

    yield from walk(root, "", 0, {})
