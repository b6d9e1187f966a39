"""The canonical record every corpus is read into, the drop value, and the manifest's Arrow schema.

A ``Record`` is one audio clip (or a stretch of a longer file: ``offset``/``duration``) with
everything any task needs: transcript, captions, labels, languages, licence. Stages return a new
record (``Record.replace``), a list of records (fan-out), or a ``Drop``: a value, never an
exception, that ends up as one row of the quarantine (inside a stage, a ``Refusal`` carries the
reason to the place that turns it into the drop). Ingest works on batches of records held by column
(``record_columns``, ``records_of``); ``columns_table`` and ``records_table`` make manifest batches.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa

ROLES = ("train", "eval")


@dataclass(frozen=True)
class Record:
    dataset: str  # the NAME given on the command line
    split: str  # the corpus's own split name (train-clean-100, evaluation, Test, ...)
    role: str  # "train" or "eval": evaluation splits never share a shard with training data
    key: str  # stable sample key: no dot, no slash
    audio: str  # audio file, relative to the dataset's root
    offset: float = 0.0  # seconds into the file where the clip starts
    duration: float | None = None  # clip length in seconds when the corpus gives it
    channel: int | None = None  # one channel of a multi-channel file, else downmix
    language: str | None = None  # spoken language code; None for sound and music
    text_language: str = "en"  # language of transcripts, captions and labels
    text_form: str | None = None  # "spoken" or "written" (transcripts only)
    text: str | None = None  # transcript
    text_raw: str | None = None  # the transcript as the corpus wrote it (``text`` is normalized)
    captions: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    speaker: str | None = None
    license: str | None = None
    source: str = ""  # where the record came from, for people: "file:line" or the audio path
    meta: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None  # length known without decoding (corpus metadata or audio header)
    copy: int = 0  # 0 for the record itself; n > 0 for the n-th repeat made by corpus weighting
    audio_root: str | None = None  # the audio lies under this extra root of the dataset (None: its root)
    translation: str | None = None  # translation of the transcript (speech translation)
    translation_language: str | None = None  # language code of the translation
    words: tuple[tuple[str, float, float], ...] = ()  # (word, start, end) in seconds from ``offset`` (docs/long-form.md)
    spans: tuple[tuple[float, float], ...] = ()  # a packed window: its segments (start, end) from ``offset``
    origins: tuple[str, ...] = ()  # upstream identities of the audio ("freesound:123", "youtube:ID@30+10"; plan/leaks.py)

    def replace(self, **changes: Any) -> "Record":
        unknown = changes.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"Record has no field {sorted(unknown)[0]!r}")
        # a copy of the instance dict, not dataclasses.replace, which re-runs __init__ over every
        # field (bench/README.md); Record has no __post_init__ to skip
        new = object.__new__(Record)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def to_row(self) -> dict[str, Any]:
        # the instance dict (every field, in declaration order, whichever way the record was made),
        # not dataclasses.asdict, whose recursive deep copy weighed on ingest (bench/README.md)
        row = dict(self.__dict__)
        row["captions"] = list(self.captions)
        row["labels"] = map_entries(self.labels)
        row["meta"] = map_entries(self.meta)
        row["words"] = [{"word": w, "start": a, "end": b} for w, a, b in self.words]
        row["spans"] = [{"start": a, "end": b} for a, b in self.spans]
        row["origins"] = list(self.origins)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        """A record from a manifest row (``to_row``'s shape; missing optional columns get defaults).

        Filled in directly, as ``replace`` does: the dataclass constructor costs more than the rest
        of reading a row, and the manifest is read twice at planning and once per unit."""
        unknown = row.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"Record has no field {sorted(unknown)[0]!r}")
        values = dict(_DEFAULTS)
        values.update(row)
        missing = [name for name in _REQUIRED if values[name] is _REQUIRED_MARK]
        if missing:
            raise TypeError(f"a Record needs {', '.join(missing)}")
        values["captions"] = tuple(values["captions"] or ())
        values["labels"] = dict(values["labels"] or ())
        values["meta"] = dict(values["meta"] or ())
        values["words"] = tuple((w["word"], w["start"], w["end"]) if isinstance(w, dict) else tuple(w) for w in values["words"] or ())
        values["spans"] = tuple((s["start"], s["end"]) if isinstance(s, dict) else tuple(s) for s in values["spans"] or ())
        values["origins"] = tuple(values["origins"] or ())
        new = object.__new__(cls)
        new.__dict__.update(values)
        return new


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(Record))
_FIELD_SET = frozenset(RECORD_FIELDS)
_REQUIRED_MARK = object()
#: every field in declaration order with its default (containers are rebuilt per record by from_row)
_DEFAULTS = {
    f.name: f.default if f.default is not dataclasses.MISSING
    else f.default_factory() if f.default_factory is not dataclasses.MISSING else _REQUIRED_MARK
    for f in dataclasses.fields(Record)
}
_REQUIRED = tuple(name for name, value in _DEFAULTS.items() if value is _REQUIRED_MARK)


@dataclass(frozen=True)
class Drop:
    """A record that cannot be used: which stage refused it, a stable reason id, and the details.

    A dropped segment of a longer recording keeps its ``span`` (``DropSpan``): window packing never
    lets a window run across untranscribed audio, and ``audioprep verify`` finds windows that do."""

    stage: str
    reason: str  # snake_case id; becomes a counter
    detail: str  # names the file and the value
    dataset: str = ""
    key: str = ""
    source: str = ""
    span: "DropSpan | None" = None  # where the dropped segment lies in its audio file, when the row says

    def to_row(self) -> dict:
        row = {"stage": self.stage, "reason": self.reason, "detail": self.detail, "dataset": self.dataset,
               "key": self.key, "source": self.source}
        if self.span is not None:  # only then: other drops keep their quarantine row as it was
            row["span"] = self.span._asdict()
        return row


class DropSpan(NamedTuple):
    """The stretch of an audio file a dropped segment covers (``Record``'s audio identity and times)."""

    audio_root: str | None  # the extra root the audio lies under (None: the dataset's root)
    audio: str  # audio file, relative to its root, normalized as ``Record.audio`` is
    offset: float  # seconds into the file
    duration: float

    @classmethod
    def of_row(cls, row: dict | None) -> "DropSpan | None":
        """A quarantine row's ``span`` (``Drop.to_row``) back, None when the row has none."""
        return None if not row else cls(row.get("audio_root"), row["audio"], float(row["offset"]), float(row["duration"]))


class Refusal(Exception):
    """A stage cannot use a record: a stable snake_case ``reason`` (the drop's, a counter in the
    quarantine) and a ``detail`` naming the file and the value. Each stage raises its own subclass
    and turns it into a ``Drop``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


_STRING_MAP = pa.map_(pa.string(), pa.string())

#: Arrow schema of the manifest: one row per Record, field for field.
ARROW_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("audio", pa.string(), nullable=False),
        pa.field("offset", pa.float64(), nullable=False),
        pa.field("duration", pa.float64()),
        pa.field("channel", pa.int32()),
        pa.field("language", pa.string()),
        pa.field("text_language", pa.string(), nullable=False),
        pa.field("text_form", pa.string()),
        pa.field("text", pa.string()),
        pa.field("text_raw", pa.string()),
        pa.field("captions", pa.list_(pa.string())),
        pa.field("labels", _STRING_MAP),
        pa.field("speaker", pa.string()),
        pa.field("license", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("meta", _STRING_MAP),
        pa.field("seconds", pa.float64()),
        pa.field("copy", pa.int32(), nullable=False),
        pa.field("audio_root", pa.string()),
        pa.field("translation", pa.string()),
        pa.field("translation_language", pa.string()),
        pa.field("words", pa.list_(pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64())]))),
        pa.field("spans", pa.list_(pa.struct([("start", pa.float64()), ("end", pa.float64())]))),
        pa.field("origins", pa.list_(pa.string())),
    ]
)

#: Parquet columns (leaf paths) of the manifest whose values repeat from record to record (corpus,
#: split, languages, license, speaker, label names and values), written with a dictionary. The others
#: (keys, paths, texts, times) are mostly distinct: Parquet's default tries a dictionary on them too and
#: gives it up page by page, which costs CPU (bench/README.md, ingest); the files come out smaller.
MANIFEST_DICTIONARY_COLUMNS = (
    "dataset", "split", "role", "channel", "language", "text_language", "text_form", "labels.key_value.key",
    "labels.key_value.value", "speaker", "license", "meta.key_value.key", "copy", "audio_root", "translation_language",
)

if [f.name for f in dataclasses.fields(Record)] != ARROW_SCHEMA.names:
    raise RuntimeError("Record and ARROW_SCHEMA disagree: keep their fields in the same order")


def map_entries(mapping: dict[str, str]) -> list[tuple[str, str]]:
    """A map column's entries in key order: the manifest is the same whatever order a schema filled it in."""
    return sorted(mapping.items()) if len(mapping) > 1 else list(mapping.items())


def record_columns(records: list[Record]) -> dict[str, list]:
    """The manifest's columns (``ARROW_SCHEMA``'s names, in its order) of ``records``."""
    values = [record.__dict__ for record in records]
    return {name: [row[name] for row in values] for name in RECORD_FIELDS}


def records_of(columns: dict[str, list]) -> list[Record]:
    """The records whose manifest columns are ``columns`` (``record_columns``' inverse), filled in
    directly as ``replace`` does."""
    records = []
    for values in zip(*(columns[name] for name in RECORD_FIELDS)):
        new = object.__new__(Record)
        new.__dict__.update(zip(RECORD_FIELDS, values))
        records.append(new)
    return records


def columns_table(columns: dict[str, list]) -> pa.Table:
    """Manifest columns (``record_columns``' shape: tuples for lists and structs, dicts for maps) as
    one Arrow table: one conversion per column, no row dict per record.

    The same table as ``pa.Table.from_pylist([r.to_row() for r in records], schema=ARROW_SCHEMA)``,
    without a row dict per record (bench/README.md)."""
    arrays = []
    for field_ in ARROW_SCHEMA:
        column = columns[field_.name]
        if field_.name in ("labels", "meta"):
            column = [map_entries(mapping) if mapping else () for mapping in column]
        arrays.append(pa.array(column, type=field_.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def records_table(records: list[Record]) -> pa.Table:
    """The manifest rows of ``records`` as one Arrow table (``columns_table``)."""
    return columns_table(record_columns(records))
