"""The batch engine: metadata rows held by column while a batch of them is mapped (``Batch``), and
what a mapped batch is (``Mapped``: its records' columns and its drops, each at its position).

A step over a column runs in one pass, paying Python's dispatch once per column instead of once per
row and field, which is most of what ingest cost per record; only when some value is refused does
it run again value by value, and a refused row leaves every column at once.
"""
from __future__ import annotations

from itertools import chain, repeat
from operator import itemgetter
from typing import NamedTuple

from schemas.record import Joined
from schemas.templates import FILTERS, MissingField, parse

from pipelines.core.record import Drop, Record, record_columns, records_of
from pipelines.ingest.guards import printable_drop
from pipelines.ingest.refusals import STAGE, Refused
from pipelines.ingest.rows import mapped_value, parsed_number, value_of

#: metadata rows mapped together (``map_rows``): enough to pay each step's dispatch once per many rows
BATCH_ROWS = 2048


class Batch:
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
        """``function`` over the rows' values of ``columns``; rows where it raises ``Refused`` are refused."""
        try:
            return list(map(function, *columns))
        except Refused:
            pass
        values, problems = [], {}
        for i, args in enumerate(zip(*columns)):
            try:
                values.append(function(*args))
            except Refused as exc:
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
        except Refused:
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
        false; rows where it raises ``Refused`` or ``MissingField`` are refused. For the rules that
        need a whole row at once (joined templates, word times)."""
        values, problems = [], {}
        for i in range(len(self)):
            value = None
            if only is None or only[i]:
                try:
                    value = function({name: column[i] for name, column in self.fields.items() if column[i] is not None}, i)
                except Refused as exc:
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
            return self.each_row(lambda fields, _: value_of(template, fields, where))
        return self.apply_distinct(lambda raw: mapped_value(template, raw, where), self.render(template.value))

    def number(self, template, where: str) -> list[float | None]:
        if template is None:
            return [None] * len(self)
        raw = self.render(template if isinstance(template, str) else template.value)
        return self.apply(lambda text: parsed_number(template, text, where), raw)

    def constant(self, value) -> list:
        return [value] * len(self)


class Mapped(NamedTuple):
    """A batch of ingested items: the manifest columns of its records (``record_columns``' shape),
    each record's position among the items, and the drops with theirs."""

    columns: dict[str, list]
    positions: list[int]
    drops: list[tuple[int, Drop]]

    @classmethod
    def of_items(cls, items: list[Record | Drop]) -> "Mapped":
        records = [(i, item) for i, item in enumerate(items) if not isinstance(item, Drop)]
        drops = [(i, printable_drop(item)) for i, item in enumerate(items) if isinstance(item, Drop)]
        return cls(record_columns([record for _, record in records]), [i for i, _ in records], drops)

    def items(self) -> list[Record | Drop]:
        """Records and drops in the order of the items."""
        merged = sorted([*self.drops, *zip(self.positions, records_of(self.columns))], key=lambda item: item[0])
        return [item for _, item in merged]
