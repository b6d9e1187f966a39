"""Key tables that outgrow memory: a dict up to a bound, then an SQLite database on disk.

Ingest holds one key per row of a joined file (``joins.py``) and one per audio file of an audio
listing (``audio_index.py``); for a corpus of millions of records those dicts would grow with the
corpus. A ``KeyTable`` holds its first ``SPILL_KEYS`` keys in a dict (small corpora never touch the
disk), then moves them to a private temporary SQLite database (deleted when the table is closed or
collected; under ``TMPDIR``) and answers from its index: its memory is the database's page cache,
however many keys it holds.

The answers are those of the dict: the first value added under a key wins; the values of the later
rows of a key and the keys never marked as used are listed in the order of their values (Python's
order of strings: texts are stored as UTF-8 bytes, lone surrogates kept, whose byte order is the
code points' order).

A table can also be written to a named file (``path``), closed, and opened again read-only
(``KeyTable.open``) by other processes, each with marks of its own: the audio index of a dataset cut
into ingest tasks is listed once, on the driver, and looked up by every task.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Iterator

#: keys a table holds in a dict before it moves them to disk
SPILL_KEYS = 1 << 18
#: the database's page cache, in KiB (its memory, whatever it holds)
CACHE_KIB = 32 * 1024
#: keys marked as used that are buffered before they are written to the database
MARK_BUFFER = 1 << 14

Value = str | tuple[str, ...]


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(blob: bytes) -> str:
    return blob.decode("utf-8", "surrogatepass")


class KeyTable:
    """key -> value (a string, or a tuple of strings with ``tuples``); the first value of a key wins.

    ``add`` every row, then ``finish``; then ``get`` and ``mark`` (a key used by a record), and at
    the end ``unmarked_and_later`` for what no record used. ``keep_later``: remember the values of
    rows whose key an earlier row had (an audio listing reports them; a join ignores them)."""

    def __init__(self, tuples: bool = False, keep_later: bool = False, limit: int | None = None, path: str = ""):
        self.tuples = tuples
        self.keep_later = keep_later
        self.path = path  # "": a private database, deleted on close; else that file, kept
        self.limit = 0 if path else SPILL_KEYS if limit is None else limit
        self.memory: dict[str, Value] = {}
        self.later: list[tuple[str, Value]] = []
        self.used: set[str] = set()
        self.db: sqlite3.Connection | None = None
        self._pending: list[tuple[bytes, bytes]] = []
        self._marks: list[tuple[bytes]] = []

    @property
    def spilled(self) -> bool:
        return self.db is not None

    def _encode(self, value: Value) -> bytes:
        return json.dumps(list(value)).encode("ascii") if self.tuples else _blob(value)

    def _decode(self, blob: bytes) -> Value:
        return tuple(json.loads(blob)) if self.tuples else _text(blob)

    def add(self, key: str, value: Value) -> None:
        if self.db is not None:
            self._pending.append((_blob(key), self._encode(value)))
            if len(self._pending) >= MARK_BUFFER:
                self._flush_rows()
            return
        if key in self.memory:
            if self.keep_later:
                self.later.append((key, value))
            return
        self.memory[key] = value
        if len(self.memory) > self.limit:
            self._spill()

    @classmethod
    def open(cls, path: str, tuples: bool = False, keep_later: bool = False) -> "KeyTable":
        """A finished table written to ``path`` by another, read-only; its marks are this table's own."""
        table = cls(tuples, keep_later)
        table.db = _connect(f"file:{path}?mode=ro", uri=True)
        return table

    def _spill(self) -> None:
        """Everything held so far into a new database, in the order it was added."""
        self.db = _connect(self.path)
        self.db.execute("CREATE TABLE rows(seq INTEGER PRIMARY KEY, k BLOB NOT NULL, v BLOB NOT NULL)")
        # the first rows of the keys, then the later rows of a key: each after its key's first row
        self._pending = [(_blob(k), self._encode(v)) for k, v in (*self.memory.items(), *self.later)]
        self._flush_rows()
        self.memory, self.later = {}, []

    def _flush_rows(self) -> None:
        if self._pending:
            self.db.executemany("INSERT INTO rows(k, v) VALUES (?, ?)", self._pending)
            self._pending = []

    def finish(self) -> "KeyTable":
        """Every row added: index the database (nothing to do for a dict)."""
        if self.path and self.db is None:
            self._spill()  # no row at all: the file is still written
        if self.db is not None:
            self._flush_rows()
            self.db.execute("CREATE INDEX IF NOT EXISTS rows_by_key ON rows(k, seq)")
            self.db.commit()
        return self

    def get(self, key: str) -> Value | None:
        if self.db is None:
            return self.memory.get(key)
        found = self.db.execute("SELECT v FROM rows WHERE k = ? ORDER BY seq LIMIT 1", (_blob(key),)).fetchone()
        return None if found is None else self._decode(found[0])

    def mark(self, key: str) -> None:
        """``key`` was used by a record."""
        if self.db is None:
            self.used.add(key)
            return
        self._marks.append((_blob(key),))
        if len(self._marks) >= MARK_BUFFER:
            self._flush_marks()

    def _flush_marks(self) -> None:
        if self._marks:
            self.db.executemany("INSERT OR IGNORE INTO used(k) VALUES (?)", self._marks)
            self._marks = []

    def marked(self) -> Iterator[str]:
        """The keys marked as used, sorted."""
        if self.db is None:
            yield from sorted(self.used)
            return
        self._flush_marks()
        for (blob,) in self.db.execute("SELECT k FROM used ORDER BY k"):
            yield _text(blob)

    def unmarked_and_later(self) -> Iterator[Value]:
        """The values of keys never marked, and of every row whose key an earlier row had, sorted."""
        if self.db is None:
            yield from sorted([v for k, v in self.memory.items() if k not in self.used] + [v for _, v in self.later])
            return
        self._flush_marks()
        query = (
            "SELECT v FROM rows AS r WHERE r.seq != (SELECT MIN(seq) FROM rows WHERE k = r.k)"
            " OR NOT EXISTS (SELECT 1 FROM used WHERE used.k = r.k) ORDER BY v"
        )
        for (blob,) in self.db.execute(query):
            yield self._decode(blob)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _connect(path: str, uri: bool = False) -> sqlite3.Connection:
    """A table's database (``""``: private, on disk, deleted on close) and its own table of marks."""
    db = sqlite3.connect(path, uri=uri, check_same_thread=False)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}", "temp_store=FILE"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TEMP TABLE used(k BLOB PRIMARY KEY) WITHOUT ROWID")
    return db


def key_table(pairs: Iterable[tuple[str, Value]], tuples: bool = False, keep_later: bool = False) -> KeyTable:
    """A finished table of ``pairs`` (in their order)."""
    table = KeyTable(tuples, keep_later)
    for key, value in pairs:
        table.add(key, value)
    return table.finish()
