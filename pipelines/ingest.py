"""Ingest: a corpus on disk + its schema -> canonical records (or drops), streaming, no audio decoded.

The schema's layout reader yields rows of fields. ``map_row`` then derives fields (regexes over
other fields), excludes rows that are not records, looks fields up in joined files and pairs the
row with its audio file (``audio_files``), fills the record templates, checks that the audio path
stays inside its root and exists, and attaches split role, languages, span and licence. Every
metadata row becomes exactly one record or one drop; with ``audio_files``, every audio file no row
used becomes one drop too (``audio_without_metadata``), so input = written + quarantined holds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterator

from schemas.model import DatasetSchema, Joined, Number
from tag_builder.languages import LANGUAGE_TOKENS

from .keys import sample_key
from .layouts import Row, read_rows
from .layouts.paths import compile_pattern, locate, match_files, path_fields
from .record import Drop, Record, Refusal
from .text import normalize_record
from .templates import MissingField, fields_of, render
from .wordtimes import WordTimesError, words_of

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
    value = render(template.value, fields)
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
    raw = render(template if isinstance(template, str) else template.value, fields)
    if not raw.strip():
        return None  # not given (e.g. an optional join without a match): unknown, not an error
    try:
        value = float(raw)
    except ValueError:
        raise _Refused("bad_number", f"{where} {raw!r} is not a number") from None
    return value / template.divide if isinstance(template, Number) else value


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
    """What ``map_row`` needs beyond the schema: roots, loaded joins, the audio index."""

    roots: dict[str, str] = field(default_factory=dict)
    joins: list[JoinTable] = field(default_factory=list)
    audio: AudioIndex | None = None
    check_files: bool = True
    folders: dict[str, str] = field(default_factory=dict)  # resolved folders, for ``inside``


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


def map_row(
    schema: DatasetSchema, dataset: str, root: str, row: Row, *, check_files: bool = True, context: Context | None = None
) -> Record | Drop:
    """One row of fields -> one record, or a drop naming the source and the reason."""
    mapping = schema.record
    context = context or Context(check_files=check_files)
    try:
        fields = dict(row.fields)
        _exclude_and_derive(schema, fields)
        for join in context.joins:
            join.apply(fields)
        if context.audio is not None:
            context.audio.apply(fields)
        split = _value(mapping.split, fields, "split")
        if split not in schema.splits:
            raise _Refused(
                "unknown_split",
                f"split {split!r} is not in the schema's splits ({', '.join(schema.splits)})",
            )
        base = root if mapping.audio_root is None else context.roots.get(mapping.audio_root, f"/{mapping.audio_root}")
        audio_rel = render(mapping.audio, fields)
        if "\x00" in audio_rel:
            raise _Refused("bad_path", f"audio path {audio_rel!r} holds a NUL character")
        if _NOT_TEXT.search(audio_rel):  # a lone surrogate (a JSON escape, an undecodable name): no file has it
            raise _Refused("undecodable_text", f"audio path {_printable(audio_rel)!r} holds bytes that are not text")
        audio = os.path.normpath(audio_rel)
        escapes = os.path.isabs(audio_rel) or audio.startswith("..")
        within, is_file = (False, False) if escapes else locate(base, os.path.join(base, audio), context.folders)
        if not within:
            raise _Refused("path_outside_root", f"audio path {audio_rel!r} escapes the corpus root {base}")
        if context.check_files and context.audio is None and not is_file:
            raise _Refused("audio_missing", f"no audio file {audio_rel} under {base}")
        offset = _number(mapping.offset, fields, "offset")
        duration = _number(mapping.duration, fields, "duration")
        end = _number(mapping.end, fields, "end")
        if end is not None:
            duration = round(end - (offset or 0.0), 6)  # 4.4 - 2.08 is 2.3200000000000003 in floats
        if (offset is not None and offset < 0) or (duration is not None and duration <= 0):
            raise _Refused("bad_span", f"offset {offset} s, duration {duration} s is not a span of audio")
        language = _value(mapping.language, fields, "language") if mapping.language is not None else schema.language
        language = _language(language or None, "language")  # '' from a map's default: no spoken language
        text_language = (
            _value(mapping.text_language, fields, "text_language") if mapping.text_language is not None else
            (language if mapping.language is not None and language else schema.text_language)
        )
        translation_language = (
            _value(mapping.translation_language, fields, "translation_language")
            if mapping.translation_language is not None else None
        )
        record = Record(
            dataset=dataset,
            split=split,
            role=schema.splits[split],
            key=sample_key(dataset, render(mapping.key, fields)),
            audio=audio,
            offset=offset or 0.0,
            duration=duration,
            language=language,
            text_language=_language(text_language, "text language"),
            text_form=schema.text_form,
            text=_value(mapping.text, fields, "text") if mapping.text is not None else None,
            captions=tuple([render(c, fields) for c in mapping.captions]),
            labels={name: _value(t, fields, f"labels.{name}") for name, t in mapping.labels.items()} if mapping.labels else {},
            speaker=render(mapping.speaker, fields) or None if mapping.speaker else None,
            license=(render(mapping.license, fields) or schema.license) if mapping.license else schema.license,
            source=row.source,
            meta={name: v for name, t in mapping.meta.items() if (v := render(t, fields))} if mapping.meta else {},
            seconds=duration if duration is not None else _number(mapping.seconds, fields, "seconds"),
            audio_root=mapping.audio_root,
            translation=_value(mapping.translation, fields, "translation") if mapping.translation is not None else None,
            translation_language=_language(translation_language, "translation language"),
        )
        if schema.words is not None:  # word times the corpus ships (docs/long-form.md)
            try:
                record = record.replace(words=words_of(schema.words, fields, root, record.offset, record.duration))
            except WordTimesError as exc:
                if schema.words.required:
                    raise _Refused(exc.reason, exc.detail) from None
    except MissingField as exc:
        return Drop(STAGE, "missing_field", f"{row.source}: {exc}", dataset=dataset, source=row.source)
    except _Refused as exc:
        return Drop(STAGE, exc.reason, f"{row.source}: {exc.detail}", dataset=dataset, source=row.source)
    return normalize_record(record, schema.normalize)


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
    """Every string in a manifest row's value (a string, a list of them, a list of pairs)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for part in value:
            yield from _strings(part)


def _holds_non_text(values) -> bool:
    """Whether any string among ``values`` (nested in lists, tuples and dicts) holds a lone surrogate."""
    texts, stack = [], []
    for value in values:  # a record's own fields: strings, numbers, None and (mostly empty) containers
        if isinstance(value, str):
            texts.append(value)
        elif value and isinstance(value, (list, tuple, dict)):
            stack.append(value)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
    return _NOT_TEXT.search("\n".join(texts)) is not None


def _text_only(item: Record | Drop) -> Record | Drop:
    """A record with a string that is not text (it could not be stored in the manifest, nor written
    to a shard) becomes a drop (undecodable_text); a drop's own strings are made printable."""
    if isinstance(item, Drop):
        return replace(item, detail=_printable(item.detail), source=_printable(item.source), key=_printable(item.key))
    if not _holds_non_text(item.__dict__.values()):
        return item  # the common case: one search over every string of the record
    for name, value in item.to_row().items():
        bad = next((s for s in _strings(value) if _NOT_TEXT.search(s)), None)
        if bad is not None:
            source = _printable(item.source)
            return Drop(
                STAGE, "undecodable_text",
                f"{source}: {name} {_printable(bad)[:120]!r} holds bytes that are not text (undecodable, or a lone surrogate escape)",
                dataset=item.dataset, key=_printable(item.key), source=source,
            )
    return item


def ingest(schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None) -> Iterator[Record | Drop]:
    """Every record (or drop) of the corpus at ``root``, in a deterministic order (see ``_ingest``);
    nothing that is not text gets past it (``_text_only``)."""
    for item in _ingest(schema, dataset, root, roots):
        yield _text_only(item)


def _ingest(schema: DatasetSchema, dataset: str, root: str, roots: dict[str, str] | None = None) -> Iterator[Record | Drop]:
    """Every record (or drop) of the corpus at ``root``, in a deterministic order.

    ``roots`` gives the extra roots the schema declares (e.g. ``common_voice``). Problems of joined
    files come first, then one item per metadata row, then the audio files no row used.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"corpus root {root} for dataset {dataset!r} is not a directory")
    root = os.path.abspath(root)
    extra = resolve_roots(schema, dataset, roots)
    problems: list[Drop] = []
    context = Context(roots=extra)
    context.joins = load_joins(schema.joins, root, extra, dataset, problems)
    yield from problems
    if schema.audio_files is not None:
        audio_root = extra[schema.audio_files.root] if schema.audio_files.root else root
        context.audio = AudioIndex.load(schema.audio_files, audio_root)
    for item in read_rows(schema.layout, root):
        if isinstance(item, Drop):
            yield replace(item, dataset=dataset)
        else:
            yield map_row(schema, dataset, root, item, context=context)
    if context.audio is not None:
        yield from context.audio.orphans(dataset)


def example_fields(schema: DatasetSchema, example) -> dict[str, str] | str:
    """The fields a reader would give for a worked example, or why the example does not fit."""
    from .layouts.lines import parse_line

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
