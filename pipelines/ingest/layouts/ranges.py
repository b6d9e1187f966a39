"""Byte ranges of one large metadata file: line-aligned pieces an ingest task reads on its own.

A file of one record per line (``kind: lines``; ``kind: table`` when nothing can make a record span
lines: no ``quotechar``, so the reader parses with ``csv.QUOTE_NONE``, and no ``escapechar``, which
could escape a line break) in an encoding where the byte of a line break is always one (``cuttable``:
UTF-8 and the other ASCII-compatible encodings; never UTF-16 or UTF-32, never a stateful encoding)
is cut at line ends (``cut_points``): the driver seeks to each nominal offset and reads to the next
newline, nothing else of the file. A table's header rows stay in the first range; a byte order mark
at the file's start belongs to the first range. A table with a ``quotechar`` (a quoted cell may hold
line breaks) is never cut: its file stays one piece.

A range is an entry ``(relative path, fields, start, end, lines)`` of a task's listing (``end`` None:
to the end of the file; ``lines``: the lines before ``start``); a whole file is ``(relative path,
fields)`` (``entry`` reads both). The driver counts the lines while it cuts (one read of the file,
counting line breaks, no parse), so a range's reader numbers its lines from ``lines`` without
reading what comes before it, and the rows of the ranges laid end to end are the rows of the whole
file, with the same line numbers. Adjacent ranges of one file in one listing are read as one
(``joined``).
"""
from __future__ import annotations

import codecs
import io
from typing import BinaryIO, Iterable, Iterator

#: bytes read at a time while looking for a line end or counting line breaks
_CHUNK = 1 << 16
#: codecs whose bytes depend on a state carried across lines: a range could not start mid-file
_STATEFUL = ("utf-7", "iso2022", "hz")


def newline_safe(encoding: str) -> bool:
    """Whether a line break is one byte (``\\n``, ``\\r``) that no other character's bytes contain."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if name.startswith(_STATEFUL) or name in ("utf-8-sig",):
        return False
    return "\n".encode(name) == b"\n" and "\r".encode(name) == b"\r" and "a".encode(name) == b"a"


def unquoted(layout) -> bool:
    """Whether a ``table`` layout's record is one line: no ``quotechar`` (a quoted cell may hold line
    breaks) and no ``escapechar`` (it may escape one)."""
    return layout.quotechar is None and layout.escapechar is None


def cuttable(layout) -> bool:
    """Whether a metadata file of ``layout`` can be read in byte ranges (see the module's docstring)."""
    one_line = unquoted(layout) if layout.kind == "table" else layout.kind == "lines"
    return one_line and newline_safe(layout.encoding)


def header_lines(layout) -> int:
    """Lines at a file's start that its first range must hold (a table's header rows)."""
    return layout.header_rows if layout.kind == "table" and layout.header else 0


def entry(item: Iterable) -> tuple[str, dict, int, int | None, int]:
    """A listing entry as ``(relative path, fields, start, end, lines before start)``: a whole file
    is ``0, None, 0``."""
    relpath, fields, *span = item
    return (relpath, fields, *span) if span else (relpath, fields, 0, None, 0)


def cut_points(path: str, size: int, bound: int, keep: int = 0, universal: bool = False) -> list[tuple[int, int | None, int]]:
    """The file's line-aligned ranges of at least ``bound`` bytes (the last may be shorter), the
    first holding its first ``keep`` lines, each with the lines before it (``line_counts``); one
    ``(0, None, 0)`` when it cannot be cut."""
    starts = [0]
    with open(path, "rb") as handle:
        floor = _after_lines(handle, keep)
        if floor is None:
            return [(0, None, 0)]
        while True:
            nominal = max(starts[-1] + bound, floor)
            boundary = None if nominal >= size else _line_end(handle, nominal)
            if boundary is None or boundary >= size:
                break
            starts.append(boundary)
    ends: list[int | None] = [*starts[1:], None]
    return list(zip(starts, ends, line_counts(path, starts, universal)))


def _line_end(handle: BinaryIO, position: int) -> int | None:
    """The offset just after the first line break at or after ``position - 1`` (None: none before the end)."""
    handle.seek(position - 1)
    offset = position - 1
    while chunk := handle.read(_CHUNK):
        found = chunk.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(chunk)
    return None


def _after_lines(handle: BinaryIO, lines: int) -> int | None:
    """The offset just after the file's first ``lines`` line breaks (None: it has fewer)."""
    if lines == 0:
        return 0
    position = 0
    for _ in range(lines):
        position = _line_end(handle, position + 1)
        if position is None:
            return None
    return position


def line_counts(path: str, offsets: list[int], universal: bool = False) -> list[int]:
    """The lines the file holds before each of ``offsets`` (line ends, ascending), in one read of
    the file up to the last: its ``\\n`` bytes, and with ``universal`` its lone ``\\r`` too (the
    lines Python's universal newlines, and so the csv module, count)."""
    counts, count, last, position = [], 0, b"", 0
    with open(path, "rb") as handle:
        for offset in offsets:
            while position < offset and (chunk := handle.read(min(_CHUNK * 16, offset - position))):
                position += len(chunk)
                count += chunk.count(b"\n")
                if universal:
                    count += chunk.count(b"\r") - chunk.count(b"\r\n") - (last == b"\r" and chunk[:1] == b"\n")
                last = chunk[-1:]
            counts.append(count)
    return counts


class _Window(io.RawIOBase):
    """The bytes ``[start, end)`` of an open file, as a file of their own."""

    def __init__(self, handle: BinaryIO, start: int, end: int):
        super().__init__()
        self.handle, self.left = handle, end - start
        handle.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.handle.read(min(len(buffer), self.left))
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def close(self) -> None:
        self.handle.close()
        super().close()


def open_range(path: str, start: int = 0, end: int | None = None) -> BinaryIO:
    """The file's bytes ``[start, end)`` (``end`` None: to its end) as a buffered binary file."""
    handle = open(path, "rb")
    if end is None:
        handle.seek(start)
        return handle
    return io.BufferedReader(_Window(handle, start, end))


def joined(entries: Iterable) -> Iterator[tuple]:
    """The listing's entries with adjacent ranges of one file made one (a whole file again when
    they cover it)."""
    held: tuple | None = None
    for item in entries:
        current = entry(item)
        if held is not None and held[0] == current[0] and held[3] is not None and held[3] == current[2]:
            held = (held[0], held[1], held[2], current[3], held[4])
            continue
        if held is not None:
            yield _written(held)
        held = current
    if held is not None:
        yield _written(held)


def _written(item: tuple) -> tuple:
    return item[:2] if item[2] == 0 and item[3] is None else item
