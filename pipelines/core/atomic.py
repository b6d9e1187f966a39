"""Atomic publication: write under a temporary name in the same folder, fsync, rename."""
from __future__ import annotations

import json
import os
from typing import Any


def dumps(value: Any) -> str:
    """The one JSON spelling of every file audioprep writes: sorted keys, UTF-8, stable."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1)


def write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json(path: str, value: Any) -> None:
    write_bytes(path, (dumps(value) + "\n").encode("utf-8"))


def write_json_if_changed(path: str, value: Any) -> bool:
    """Write ``value`` unless the file already holds exactly it (a rerun keeps files and mtimes)."""
    data = (dumps(value) + "\n").encode("utf-8")
    if os.path.isfile(path):
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    write_bytes(path, data)
    return True


def jsonl_line(row) -> str:
    """One row as ``write_jsonl`` writes it (keys sorted, text as is), newline included."""
    return json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"


def write_jsonl(path: str, rows) -> int:
    """Stream ``rows`` (any iterable) into ``path`` atomically; returns how many were written."""
    directory, name = os.path.split(path)
    os.makedirs(directory or ".", exist_ok=True)
    temporary = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    count = 0
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(jsonl_line(row))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.remove(temporary)  # ``rows`` (a stream being produced) failed: nothing half-written is left
        raise
    os.replace(temporary, path)
    return count


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: str):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
