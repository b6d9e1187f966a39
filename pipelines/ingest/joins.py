"""Joins: files a schema joins to its rows by a key (speaker tables, label ontologies, clip durations).

Every joined file is read once (``load_joins``) into a ``JoinTable``; each row then gets the join's
fields from the table's row of its key (``JoinTable.apply``), or is refused when a required join
finds none (``join_unmatched``). A joined file of many rows is held on disk past a bound
(``spill.KeyTable``), with the same answers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from schemas.templates import MissingField, render

from pipelines.core.record import Drop
from pipelines.ingest.layouts.readers import read_rows
from pipelines.ingest.refusals import STAGE, Refused
from pipelines.ingest.spill import KeyTable


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
    rows: KeyTable  # key -> tuple of values
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
                raise Refused("join_unmatched", f"no row of join {self.name!r} has key {key!r}")
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
                    raise Refused("join_unmatched", f"no row of join {self.name!r} has key {item!r} (one of {len(items)} items)")
                continue
            found.append(row)
        for name, column in zip(self.fields, self.columns):
            fields[name] = self.joiner.join(row[column] for row in found)


def load_joins(joins, root: str, extra: dict[str, str], dataset: str, problems: list[Drop]) -> list[JoinTable]:
    """Read every joined file once (joins of the same file and key share it), in schema order; the
    problems of the joined files are added to ``problems`` as drops."""
    groups: dict[tuple, list] = {}
    for join in joins:
        base = extra[join.root] if join.root else root
        groups.setdefault((base, join.layout.model_dump_json(), join.key), []).append(join)
    tables: dict[str, JoinTable] = {}
    for (base, _, key_template), members in groups.items():
        rows = _read_join(members, base, key_template, dataset, problems)
        start = 0
        for join in members:
            columns = tuple(range(start, start + len(join.fields)))
            start += len(join.fields)
            tables[join.name] = JoinTable(
                join.name, join.required, join.match, tuple(join.fields), columns, rows, join.each, join.joiner
            )
    return [tables[join.name] for join in joins]


def _read_join(members: list, base: str, key_template: str, dataset: str, problems: list[Drop]) -> KeyTable:
    """One joined file as key -> the values every join of ``members`` needs, in their order."""
    templates = [t for join in members for t in join.fields.values()]
    names = " / ".join(join.name for join in members)
    rows = KeyTable(tuples=True)
    for item in read_rows(members[0].layout, base):
        if isinstance(item, Drop):
            problems.append(replace(item, dataset=dataset, detail=f"join {names}: {item.detail}"))
            continue
        try:
            key = render(key_template, item.fields)
            values = tuple(render(t, item.fields) for t in templates)
        except MissingField as exc:
            detail = f"join {names}: {item.source}: {exc}"
            problems.append(Drop(STAGE, "missing_field", detail, dataset=dataset, source=item.source))
            continue
        rows.add(key, values)  # the first row of a key wins
    return rows.finish()
