"""Ingest: a corpus on disk + its schema -> canonical records (or drops), streaming, no audio decoded.

The schema's layout reader yields rows of fields. Each row first gets the schema's defaults, derived
fields (regexes over other fields), exclusions, joined fields and its audio file (``audio_files``)
(``_row_fields``, a row at a time); then ``map_rows`` fills the record's fields for a batch of rows
column by column: templates, the check that the audio path stays inside its root and exists (one
listing per folder, ``Locator``), split role, languages, span and licence, then normalization
(``normalize_columns``) and the check that every string is text. A batch step pays Python's
dispatch once per column instead of once per row and field, which is most of what ingest cost per
record; a row is refused by the first step that refuses it, exactly as if it were mapped alone
(``map_row``, a batch of one, is what the schemas' worked examples use). Every metadata row becomes
exactly one record or one drop; with ``audio_files``, every audio file no row used becomes one drop
too (``audio_without_metadata``), so input = written + quarantined holds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Iterator, NamedTuple

import pyarrow as pa

from schemas.model import DatasetSchema, Joined, Number
from tag_builder.languages import LANGUAGE_TOKENS

from pipelines.core.keys import sample_keys
from pipelines.ingest.layouts import Row, read_rows
from pipelines.ingest.layouts.paths import Locator, compile_pattern, match_files, path_fields
from pipelines.core.record import (
    ARROW_SCHEMA,
    RECORD_FIELDS,
    Drop,
    Record,
    Refusal,
    map_entries,
    record_columns,
    records_of,
)
from schemas.templates import FILTERS, MissingField, fields_of, parse, render
from pipelines.ingest.text import normalize_columns, refusal
from pipelines.ingest.wordtimes import WordTimesError, words_of

STAGE = "ingest"


class _Refused(Refusal):
    """A metadata row that is not a usable record (raised inside ``map_row``, which returns it as a drop)."""


def _value(template, fields: dict[str, str], where: str) -> str:
    if isinstance(template, str):
        return render(template, fields)
    if isinstance(template, Joined):
        parts = [
            render(part, fields) for part in template.join
            if not template.skip_unfilled or all(fields.get(name, "").strip() for name in fields_of(part))
        ]
        return template.joiner.join(p for p in parts if p.strip() or not template.skip_empty)
    return _mapped(template, render(template.value, fields), where)


def _mapped(template, value: str, where: str) -> str:
    """A value template's rendered ``value`` through its map, replacements and case."""
    if template.map:
        if value in template.map:
            value = template.map[value]
        elif template.strict:
            raise _Refused("unmapped_value", f"{where} value {value!r} is not in the schema's map ({', '.join(sorted(template.map))})")
        elif template.default is not None:
            value = template.default
    for old, new in template.replace.items():
        value = value.replace(old, new)
    return value.lower() if template.lower else value


def _number(template, fields: dict[str, str], where: str) -> float | None:
    if template is None:
        return None
    return _parsed_number(template, render(template if isinstance(template, str) else template.value, fields), where)


def _parsed_number(template, raw: str, where: str) -> float | None:
    if not raw.strip():
        return None  # not given (e.g. an optional join without a match): unknown, not an error
    try:
        value = float(raw)
    except ValueError:
        raise _Refused("bad_number", f"{where} {raw!r} is not a number") from None
    return value / template.divide if isinstance(template, Number) else value


def _span(offset: float | None, duration: float | None, end: float | None) -> tuple[float, float | None]:
    if end is not None:
        duration = round(end - (offset or 0.0), 6)  # 4.4 - 2.08 is 2.3200000000000003 in floats
    if (offset is not None and offset < 0) or (duration is not None and duration <= 0):
        raise _Refused("bad_span", f"offset {offset} s, duration {duration} s is not a span of audio")
    return offset or 0.0, duration


def _split(schema: DatasetSchema, split: str) -> str:
    if split not in schema.splits:
        raise _Refused("unknown_split", f"split {split!r} is not in the schema's splits ({', '.join(schema.splits)})")
    return split


def _audio_path(base: str, relpath: str, context: "Context", checked: bool = False) -> str:
    """The record's audio path, normalized, if it is a usable path inside ``base`` (and a file there
    when files are checked and no audio index found it). ``checked``: the path is known to hold
    neither a NUL nor a lone surrogate."""
    if not checked and "\x00" in relpath:
        raise _Refused("bad_path", f"audio path {relpath!r} holds a NUL character")
    if not checked and _NOT_TEXT.search(relpath):  # a lone surrogate (a JSON escape, an undecodable name): no file has it
        raise _Refused("undecodable_text", f"audio path {_printable(relpath)!r} holds bytes that are not text")
    audio = os.path.normpath(relpath)
    escapes = audio.startswith(("/", ".."))  # absolute, or up out of the root
    within, is_file = (False, False) if escapes else context.locate(base, audio)
    if not within:
        raise _Refused("path_outside_root", f"audio path {relpath!r} escapes the corpus root {base}")
    if context.check_files and context.audio is None and not is_file:
        raise _Refused("audio_missing", f"no audio file {relpath} under {base}")
    return audio


def _language(code: str | None, where: str) -> str | None:
    """A language code that has a Qwen-Audio token, or a refusal: never an invented token."""
    if code is None or code in LANGUAGE_TOKENS:
        return code
    raise _Refused(
        "no_language_token",
        f"{where} {code!r} has no Qwen-Audio language token (tokens exist for {', '.join(LANGUAGE_TOKENS)}); "
        "the record is refused rather than tagged with an invented token",
    )


@dataclass
class JoinTable:
    """A joined file held as key -> the rendered values of the join's ``fields`` (a tuple each).

    Joins that read the same file by the same key (LibriMix's two sources) share one table:
    ``rows`` holds every value they need and each join takes its own ``columns`` of it.
    """

    name: str
    required: bool
    match: str
    fields: tuple[str, ...]
    columns: tuple[int, ...]
    rows: dict[str, tuple[str, ...]]
    each: str | None = None  # the match is a list split by this; every item is looked up
    joiner: str = "; "

    def apply(self, fields: dict[str, str]) -> None:
        if self.each is not None:
            self._apply_each(fields)
            return
        key = render(self.match, fields)
        found = self.rows.get(key)
        if found is None:
            if self.required:
                raise _Refused("join_unmatched", f"no row of join {self.name!r} has key {key!r}")
            fields.update({name: "" for name in self.fields})
            return
        fields.update({name: found[column] for name, column in zip(self.fields, self.columns)})

    def _apply_each(self, fields: dict[str, str]) -> None:
        """A list of keys (AudioSet's "/m/09x0r,/m/05zppz"): each field joins the items' values in order."""
        items = [item.strip() for item in render(self.match, fields).split(self.each) if item.strip()]
        found = []
        for item in items:
            row = self.rows.get(item)
            if row is None:
                if self.required:
                    raise _Refused("join_unmatched", f"no row of join {self.name!r} has key {item!r} (one of {len(items)} items)")
                continue
            found.append(row)
        for name, column in zip(self.fields, self.columns):
            fields[name] = self.joiner.join(row[column] for row in found)


def load_joins(joins, root: str, extra: dict[str, str], dataset: str, problems: list[Drop]) -> list[JoinTable]:
    """Read every joined file once (joins of the same file and key share it), in schema order."""
    groups: dict[tuple, list] = {}
    for join in joins:
        base = extra[join.root] if join.root else root
        groups.setdefault((base, join.layout.model_dump_json(), join.key), []).append(join)
    tables: dict[str, JoinTable] = {}
    for (base, _, key_template), members in groups.items():
        templates = [t for join in members for t in join.fields.values()]
        names = " / ".join(join.name for join in members)
        rows: dict[str, tuple[str, ...]] = {}
        for item in read_rows(members[0].layout, base):
            if isinstance(item, Drop):
                problems.append(replace(item, dataset=dataset, detail=f"join {names}: {item.detail}"))
                continue
            try:
                key = render(key_template, item.fields)
                values = tuple(render(t, item.fields) for t in templates)
            except MissingField as exc:
                problems.append(Drop(STAGE, "missing_field", f"join {names}: {item.source}: {exc}", dataset=dataset, source=item.source))
                continue
            rows.setdefault(key, values)  # the first row of a key wins
        start = 0
        for join in members:
            columns = tuple(range(start, start + len(join.fields)))
            start += len(join.fields)
            tables[join.name] = JoinTable(join.name, join.required, join.match, tuple(join.fields), columns, rows, join.each, join.joiner)
    return [tables[join.name] for join in joins]


@dataclass
class AudioIndex:
    """The corpus's audio files by key, and which of them a record used."""

    pattern: str
    match: str
    files: dict[str, str]  # key -> path relative to its root
    duplicates: list[str] = field(default_factory=list)  # files whose key an earlier file has
    used: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, spec, root: str) -> "AudioIndex":
        files: dict[str, str] = {}
        duplicates: list[str] = []
        for relpath, fields in match_files(root, spec.files):
            key = render(spec.key, fields)
            if key in files:
                duplicates.append(relpath)  # never used, so reported as audio without metadata
            else:
                files[key] = relpath
        return cls(spec.files, spec.match, files, duplicates)

    def apply(self, fields: dict[str, str]) -> None:
        key = render(self.match, fields)
        relpath = self.files.get(key)
        if relpath is None:
            raise _Refused("audio_missing", f"no audio file with key {key!r} among the files matching {self.pattern!r}")
        self.used.add(key)
        found = dict(_pattern_fields(self.pattern, relpath))
        for name, value in found.items():
            fields.setdefault(name, value)
        fields.update({f"audio_{k}": v for k, v in path_fields(relpath).items()})

    def orphans(self, dataset: str) -> Iterator[Drop]:
        unused = [p for k, p in self.files.items() if k not in self.used] + self.duplicates
        for relpath in sorted(unused):
            yield Drop(
                STAGE, "audio_without_metadata",
                f"{relpath}: an audio file no metadata row refers to (no transcript line, row or item has its key)",
                dataset=dataset, source=relpath,
            )


def _pattern_fields(pattern: str, relpath: str, whole: bool = False) -> dict[str, str] | None:
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


@dataclass
class Context:
    """What mapping rows needs beyond the schema: roots, loaded joins, the audio index."""

    roots: dict[str, str] = field(default_factory=dict)
    joins: list[JoinTable] = field(default_factory=list)
    audio: AudioIndex | None = None
    check_files: bool = True
    locate: Locator = field(default_factory=Locator)


def _exclude_and_derive(schema: DatasetSchema, fields: dict[str, str]) -> None:
    """Defaults for fields the row lacks, excluded rows (on the reader's own fields), then derived
    fields, in schema order."""
    for name, value in schema.defaults.items():
        fields.setdefault(name, value)
    for rule in schema.exclude:
        value = render(rule.value, fields)
        if re.search(rule.regex, value):
            raise _Refused(rule.reason, f"{value[:120]!r} matches {rule.regex!r} (excluded by the schema)")
    for rule in schema.derive:
        value = render(rule.value, fields)
        if rule.map is not None:
            if value in rule.map:
                fields[rule.field] = rule.map[value]
            elif rule.required:
                raise _Refused("derive_unmatched", f"{value!r} is not in the map of field {rule.field!r} ({', '.join(sorted(rule.map))})")
            else:
                fields[rule.field] = ""
            continue
        regex = re.compile(rule.regex)
        if rule.each is not None:
            fields[rule.field] = rule.joiner.join(
                render(rule.each, {k: v or "" for k, v in m.groupdict().items()}) for m in regex.finditer(value)
            )
            continue
        match = regex.search(value) if rule.search else regex.fullmatch(value)
        if match is None:
            if rule.required:
                raise _Refused("derive_unmatched", f"{value!r} does not match {rule.regex!r}")
            fields.update({name: "" for name in regex.groupindex})
        else:
            fields.update({k: v or "" for k, v in match.groupdict().items()})


def _row_fields(schema: DatasetSchema, context: Context, row: Row) -> dict[str, str]:
    """A row's fields with the schema's defaults, exclusions, derived fields, joins and audio file."""
    if not (schema.defaults or schema.exclude or schema.derive or context.joins or context.audio is not None):
        return row.fields  # nothing to add: the reader's own dict (never changed later)
    fields = dict(row.fields)
    if schema.defaults or schema.exclude or schema.derive:
        _exclude_and_derive(schema, fields)
    for join in context.joins:
        join.apply(fields)
    if context.audio is not None:
        context.audio.apply(fields)
    return fields


class _Batch:
    """Metadata rows being mapped together, held by column; a refused row leaves every column at
    once (``remove``) and becomes a drop at its position.

    ``map_rows`` builds the record's columns (``out``) step by step; a step over a column runs in
    one pass (``apply``), and only when some value is refused is it run again value by value."""

    def __init__(self, dataset: str, rows: list[tuple[int, dict[str, str], str]], drops: list[tuple[int, Drop]]):
        self.dataset = dataset
        self.positions = [position for position, _, _ in rows]
        self.sources = [source for _, _, source in rows]
        dicts = [fields for _, fields, _ in rows]
        names = list(dict.fromkeys(chain.from_iterable(dicts)))
        self.fields: dict[str, list]  # name -> each row's value, None where the row lacks it
        if len(names) > 1 and set(map(len, dicts)) == {len(names)}:  # every row has every field (a table)
            self.fields = dict(zip(names, map(list, zip(*map(itemgetter(*names), dicts)))))
        else:
            self.fields = {name: [fields.get(name) for fields in dicts] for name in names}
        self.out: dict[str, list] = {}
        self.drops = drops

    def __len__(self) -> int:
        return len(self.positions)

    def remove(self, drops: dict[int, Drop]) -> None:
        """Rows (by index) that become these drops leave the batch."""
        if not drops:
            return
        self.drops.extend((self.positions[i], drop) for i, drop in drops.items())
        keep = [i for i in range(len(self)) if i not in drops]
        self.positions = [self.positions[i] for i in keep]
        self.sources = [self.sources[i] for i in keep]
        for columns in (self.fields, self.out):
            for name, column in columns.items():
                columns[name] = [column[i] for i in keep]

    def refuse(self, problems: dict[int, tuple[str, str]]) -> None:
        """Rows (by index) -> (reason, detail): ingest refuses them."""
        self.remove({
            i: Drop(STAGE, reason, f"{self.sources[i]}: {detail}", dataset=self.dataset, source=self.sources[i])
            for i, (reason, detail) in problems.items()
        })

    def apply(self, function, *columns: list) -> list:
        """``function`` over the rows' values of ``columns``; rows where it raises ``_Refused`` are refused."""
        try:
            return list(map(function, *columns))
        except _Refused:
            pass
        values, problems = [], {}
        for i, args in enumerate(zip(*columns)):
            try:
                values.append(function(*args))
            except _Refused as exc:
                problems[i] = (exc.reason, exc.detail)
        self.refuse(problems)
        return values

    def apply_distinct(self, function, column: list) -> list:
        """``apply`` for a column of few distinct values (a split, a language code): ``function``
        runs once per distinct value, and row by row only when some value is refused."""
        results = {}
        try:
            for value in set(column):
                results[value] = function(value)
        except _Refused:
            return self.apply(function, column)
        return list(map(results.__getitem__, column))

    def render(self, template: str) -> list[str]:
        """``template`` filled in for every row; a row lacking a field it names is refused (missing_field)."""
        parts = parse(template)
        missing: dict[int, tuple[str, str]] = {}
        for _, name, _ in parts:
            column = self.fields.get(name) if name is not None else ()
            if column is None or None in column:
                for i in range(len(self)):
                    if i not in missing and (column is None or column[i] is None):
                        present = [other for other, values in self.fields.items() if values[i] is not None]
                        missing[i] = ("missing_field", str(MissingField(name, present)))
        self.refuse(missing)
        if not len(self):
            return []
        pieces: list = []
        for literal, name, filter_ in parts:
            if literal:
                pieces.append(repeat(literal, len(self)))
            if name is not None:
                column = self.fields[name]
                pieces.append(list(map(FILTERS[filter_], column)) if filter_ else column)
        if len(pieces) == 1 and isinstance(pieces[0], list):
            return pieces[0]
        return list(map("".join, zip(*pieces))) if pieces else [""] * len(self)

    def each_row(self, function, only: list[bool] | None = None) -> list:
        """``function(fields, i)`` for each row ``i`` (its fields as a dict), None where ``only`` is
        false; rows where it raises ``_Refused`` or ``MissingField`` are refused. For the rules that
        need a whole row at once (joined templates, word times)."""
        values, problems = [], {}
        for i in range(len(self)):
            value = None
            if only is None or only[i]:
                try:
                    value = function({name: column[i] for name, column in self.fields.items() if column[i] is not None}, i)
                except _Refused as exc:
                    problems[i] = (exc.reason, exc.detail)
                except MissingField as exc:
                    problems[i] = ("missing_field", str(exc))
            values.append(value)
        self.refuse(problems)
        return [value for i, value in enumerate(values) if i not in problems]

    def value(self, template, where: str) -> list[str]:
        """A record field's template (plain, joined, or a value with map/replace/lower) for every row."""
        if isinstance(template, str):
            return self.render(template)
        if isinstance(template, Joined):
            return self.each_row(lambda fields, _: _value(template, fields, where))
        return self.apply_distinct(lambda raw: _mapped(template, raw, where), self.render(template.value))

    def number(self, template, where: str) -> list[float | None]:
        if template is None:
            return [None] * len(self)
        return self.apply(lambda raw: _parsed_number(template, raw, where), self.render(template if isinstance(template, str) else template.value))

    def constant(self, value) -> list:
        return [value] * len(self)


def map_rows(
    schema: DatasetSchema, dataset: str, root: str, items: list[Row | Drop], context: Context
) -> "Mapped":
    """A batch of metadata rows (and the reader's drops among them) -> the manifest columns of its
    records, their positions in ``items``, and the drops with theirs: every item is exactly one
    record or one drop. Each step runs over the whole batch, in the order of the record's fields; a
    row is refused by the first step that refuses it, as if it were mapped alone (``map_row``).
    A column made by one step and used by a later one is kept in ``batch.out`` (a refusal in between
    removes the row from it too)."""
    mapping = schema.record
    rows, drops = [], []
    for position, item in enumerate(items):
        if isinstance(item, Drop):
            drops.append((position, replace(item, dataset=dataset)))
            continue
        try:
            rows.append((position, _row_fields(schema, context, item), item.source))
        except MissingField as exc:
            drops.append((position, Drop(STAGE, "missing_field", f"{item.source}: {exc}", dataset=dataset, source=item.source)))
        except _Refused as exc:
            drops.append((position, Drop(STAGE, exc.reason, f"{item.source}: {exc.detail}", dataset=dataset, source=item.source)))
    batch = _Batch(dataset, rows, drops)
    out = batch.out
    out["split"] = batch.value(mapping.split, "split")
    out["split"] = batch.apply_distinct(lambda split: _split(schema, split), out["split"])
    base = root if mapping.audio_root is None else context.roots.get(mapping.audio_root, f"/{mapping.audio_root}")
    out["audio"] = batch.render(mapping.audio)
    joined = "\n".join(out["audio"])
    checked = "\x00" not in joined and (joined.isascii() or not _NOT_TEXT.search(joined))  # one search for the whole batch
    out["audio"] = batch.apply(lambda path: _audio_path(base, path, context, checked), out["audio"])
    out["offset"] = batch.number(mapping.offset, "offset")
    out["duration"] = batch.number(mapping.duration, "duration")
    out["_end"] = batch.number(mapping.end, "end")
    spans = batch.apply(_span, out["offset"], out["duration"], out["_end"])
    del out["_end"]
    out["offset"], out["duration"] = [offset for offset, _ in spans], [duration for _, duration in spans]
    declared = batch.value(mapping.language, "language") if mapping.language is not None else batch.constant(schema.language)
    out["language"] = batch.apply_distinct(lambda code: _language(code or None, "language"), declared)  # '' from a map's default: none
    if mapping.text_language is not None:
        out["text_language"] = batch.value(mapping.text_language, "text_language")
    elif mapping.language is not None:
        out["text_language"] = [code or schema.text_language for code in out["language"]]
    else:
        out["text_language"] = batch.constant(schema.text_language)
    out["translation_language"] = (
        batch.value(mapping.translation_language, "translation_language")
        if mapping.translation_language is not None else batch.constant(None)
    )
    out["key"] = sample_keys(dataset, batch.render(mapping.key))
    out["text_language"] = batch.apply_distinct(lambda code: _language(code, "text language"), out["text_language"])
    out["text"] = batch.value(mapping.text, "text") if mapping.text is not None else batch.constant(None)
    for index, template in enumerate(mapping.captions):
        out[f"captions.{index}"] = batch.render(template)
    captions = [out.pop(f"captions.{index}") for index in range(len(mapping.captions))]
    out["captions"] = list(zip(*captions)) if captions else batch.constant(())
    for name, template in mapping.labels.items():
        out[f"labels.{name}"] = batch.value(template, f"labels.{name}")
    labels = {name: out.pop(f"labels.{name}") for name in mapping.labels}
    # one empty dict shared by the rows that have none: a record's containers are never changed in place
    out["labels"] = [dict(zip(labels, values)) for values in zip(*labels.values())] if labels else batch.constant({})
    out["speaker"] = [value or None for value in batch.render(mapping.speaker)] if mapping.speaker else batch.constant(None)
    out["license"] = [value or schema.license for value in batch.render(mapping.license)] if mapping.license else batch.constant(schema.license)
    for name, template in mapping.meta.items():
        out[f"meta.{name}"] = batch.render(template)
    meta = {name: out.pop(f"meta.{name}") for name in mapping.meta}
    out["meta"] = (
        [{name: value for name, value in zip(meta, values) if value} for values in zip(*meta.values())]
        if meta else batch.constant({})
    )
    if mapping.seconds is not None:  # read only where the record has no duration
        known = out["duration"]
        seconds = batch.each_row(lambda fields, i: _number(mapping.seconds, fields, "seconds"), only=[d is None for d in known])
        out["seconds"] = [d if d is not None else s for d, s in zip(out["duration"], seconds)]
    else:
        out["seconds"] = list(out["duration"])
    out["translation"] = batch.value(mapping.translation, "translation") if mapping.translation is not None else batch.constant(None)
    out["translation_language"] = batch.apply_distinct(lambda code: _language(code, "translation language"), out["translation_language"])
    if schema.words is not None:  # word times the corpus ships (docs/long-form.md)
        out["words"] = batch.each_row(_word_times(schema, root, out["offset"], out["duration"]))
    else:
        out["words"] = batch.constant(())
    out.update(
        dataset=batch.constant(dataset), role=[schema.splits[split] for split in out["split"]], channel=batch.constant(None),
        text_form=batch.constant(schema.text_form), text_raw=batch.constant(None), source=list(batch.sources),
        copy=batch.constant(0), audio_root=batch.constant(mapping.audio_root), spans=batch.constant(()),
    )
    refused = normalize_columns(out, schema.normalize)
    batch.remove({i: refusal(what, result, dataset, out["key"][i], batch.sources[i]) for i, (what, result) in refused.items()})
    batch.remove(_not_text(out))
    columns = {name: out[name] for name in RECORD_FIELDS}
    return Mapped(columns, batch.positions, sorted(((position, _printable_drop(drop)) for position, drop in batch.drops), key=lambda d: d[0]))


def _word_times(schema: DatasetSchema, root: str, offsets: list[float], durations: list[float | None]):
    """Each row's word times (``words_of``), for ``_Batch.each_row``; a corpus whose word times are
    optional keeps a record whose times cannot be read, without them."""

    def words(fields: dict[str, str], i: int) -> tuple:
        try:
            return words_of(schema.words, fields, root, offsets[i], durations[i])
        except WordTimesError as exc:
            if schema.words.required:
                raise _Refused(exc.reason, exc.detail) from None
            return ()

    return words


def map_row(schema: DatasetSchema, dataset: str, root: str, row: Row, *, context: Context | None = None) -> Record | Drop:
    """One row of fields -> one record, or a drop naming the source and the reason (``map_rows``
    over a batch of one)."""
    return map_rows(schema, dataset, root, [row], context or Context()).items()[0]


class RootError(FileNotFoundError):
    """An extra root the schema declares is not given or not a folder, or one is given it does not declare."""


def resolve_roots(schema: DatasetSchema, dataset: str, roots: dict[str, str] | None) -> dict[str, str]:
    """The extra roots the schema declares, as absolute folders; a missing one is an error saying how to give it."""
    given = dict(roots or {})
    unknown = sorted(set(given) - set(schema.roots))
    if unknown:
        raise RootError(f"dataset {dataset!r}: schema {schema.name} declares no root {unknown[0]!r} (it declares: {', '.join(schema.roots) or 'none'})")
    resolved = {}
    for name, description in schema.roots.items():
        if name not in given:
            raise RootError(
                f"dataset {dataset!r} needs the extra root {name!r} ({description.strip()}): "
                f"give it as --dataset {dataset}=ROOT,{name}=PATH"
            )
        if not os.path.isdir(given[name]):
            raise RootError(f"extra root {name}={given[name]} of dataset {dataset!r} is not a directory")
        resolved[name] = os.path.abspath(given[name])
    return resolved


#: a lone surrogate: a byte no codec could decode (a file name, kept by surrogateescape) or a bad JSON escape
_NOT_TEXT = re.compile("[\ud800-\udfff]")


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _NOT_TEXT.search(text) else text


def _strings(value) -> Iterator[str]:
    """Every string in a record's value (a string; a tuple, list or dict of them, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in map_entries(value):
            yield key
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for part in value:
            yield from _strings(part)


def _not_text(columns: dict[str, list]) -> dict[int, Drop]:
    """Records (by row) holding a string that is not text (it could not be stored in the manifest,
    nor written to a shard), as drops (undecodable_text) naming the first such field. One search
    over each column's strings; row by row only in a column where one is found."""
    drops: dict[int, Drop] = {}
    for name in RECORD_FIELDS:
        column = columns[name]
        if name in _STRING_COLUMNS:
            texts = filter(None, column)
        elif name in _NESTED_COLUMNS:
            texts = [text for value in column if value for text in _strings(value)]
        else:
            continue
        joined = "\n".join(texts)
        if joined.isascii() or not _NOT_TEXT.search(joined):  # isascii is a flag of the string: free
            continue
        for i, value in enumerate(column):
            bad = next((s for s in _strings(value) if _NOT_TEXT.search(s)), None)
            if bad is not None and i not in drops:
                source = _printable(columns["source"][i])
                drops[i] = Drop(
                    STAGE, "undecodable_text",
                    f"{source}: {name} {_printable(bad)[:120]!r} holds bytes that are not text (undecodable, or a lone surrogate escape)",
                    dataset=columns["dataset"][i], key=_printable(columns["key"][i]), source=source,
                )
    return dict(sorted(drops.items()))


_STRING_COLUMNS = frozenset(f.name for f in ARROW_SCHEMA if f.type == pa.string())
_NESTED_COLUMNS = frozenset(f.name for f in ARROW_SCHEMA if pa.types.is_nested(f.type))


def _printable_drop(drop: Drop) -> Drop:
    """A drop whose strings can be written anywhere (an undecodable byte shown as an escape)."""
    if not _NOT_TEXT.search(f"{drop.detail}\n{drop.source}\n{drop.key}"):
        return drop
    return replace(drop, detail=_printable(drop.detail), source=_printable(drop.source), key=_printable(drop.key))


#: metadata rows mapped together (``map_rows``): enough to pay each step's dispatch once per many rows
BATCH_ROWS = 2048


class Mapped(NamedTuple):
    """A batch of ingested items: the manifest columns of its records (``record_columns``' shape),
    each record's position among the items, and the drops with theirs."""

    columns: dict[str, list]
    positions: list[int]
    drops: list[tuple[int, Drop]]

    @classmethod
    def of_items(cls, items: list[Record | Drop]) -> "Mapped":
        records = [(i, item) for i, item in enumerate(items) if not isinstance(item, Drop)]
        drops = [(i, _printable_drop(item)) for i, item in enumerate(items) if isinstance(item, Drop)]
        return cls(record_columns([record for _, record in records]), [i for i, _ in records], drops)

    def items(self) -> list[Record | Drop]:
        """Records and drops in the order of the items."""
        merged = sorted([*self.drops, *zip(self.positions, records_of(self.columns))], key=lambda item: item[0])
        return [item for _, item in merged]


def ingest_batches(schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None) -> Iterator[Mapped]:
    """The corpus at ``root`` in batches of at most ``BATCH_ROWS`` items (``map_rows``), in a
    deterministic order; nothing that is not text gets past it.

    ``roots`` gives the extra roots the schema declares (e.g. ``common_voice``). Problems of joined
    files come first, then the metadata rows, then the audio files no row used."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"corpus root {root} for dataset {dataset!r} is not a directory")
    root = os.path.abspath(root)
    extra = resolve_roots(schema, dataset, roots)
    problems: list[Drop] = []
    context = Context(roots=extra)
    context.joins = load_joins(schema.joins, root, extra, dataset, problems)
    if problems:
        yield Mapped.of_items(problems)
    if schema.audio_files is not None:
        audio_root = extra[schema.audio_files.root] if schema.audio_files.root else root
        context.audio = AudioIndex.load(schema.audio_files, audio_root)
    items = read_rows(schema.layout, root)
    while chunk := list(islice(items, BATCH_ROWS)):
        yield map_rows(schema, dataset, root, chunk, context)
    if context.audio is not None:
        orphans = context.audio.orphans(dataset)
        while chunk := list(islice(orphans, BATCH_ROWS)):
            yield Mapped.of_items(chunk)


def ingest(schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None) -> Iterator[Record | Drop]:
    """Every record (or drop) of the corpus at ``root``, one by one, in a deterministic order (``ingest_batches``)."""
    for batch in ingest_batches(schema, dataset, root, roots):
        yield from batch.items()


def example_fields(schema: DatasetSchema, example) -> dict[str, str] | str:
    """The fields a reader would give for a worked example, or why the example does not fit."""
    from pipelines.ingest.layouts.lines import parse_line

    pattern = getattr(schema.layout, "files", None)
    fields: dict[str, str] = path_fields(example.path)
    if pattern:
        for one in [pattern] if isinstance(pattern, str) else pattern:
            found = _pattern_fields(one, example.path, whole=True)
            if found is not None:
                fields.update(found)
                break
        else:
            return f"example path {example.path!r} does not fit the pattern {pattern!r}"
    if example.line is not None:
        if schema.layout.kind != "lines":
            return "`line` is for lines layouts; give `row` or `fields`"
        parsed = parse_line(re.compile(schema.layout.line), example.line)
        if parsed is None:
            return f"example line {example.line!r} does not match {schema.layout.line!r}"
        fields.update(parsed)
    if example.row:
        rename = getattr(schema.layout, "rename", {})
        fields.update({rename.get(k, k): v for k, v in example.row.items()})
    fields.update(example.fields)
    return fields


def run_example(schema: DatasetSchema, example) -> list[str]:
    """Check one worked example of a schema; returns the mismatches (empty when it holds).

    Joined values and audio-file fields are not looked up: the example gives them under ``fields``.
    """
    fields = example_fields(schema, example)
    if isinstance(fields, str):
        return [fields]
    context = Context(roots={name: f"/{name}" for name in schema.roots}, check_files=False)
    result = map_row(schema, schema.name, "/corpus", Row(fields, example.path), context=context)
    if isinstance(result, Drop):
        return [f"example {example.path!r} was dropped: {result.reason}: {result.detail}"]
    got = result.to_row()
    got["labels"] = result.labels
    got["meta"] = result.meta
    return [
        f"example {example.path!r}: {name} is {got.get(name)!r}, expected {want!r}"
        for name, want in example.expect.items()
        if got.get(name, "<no such field>") != want
    ]
