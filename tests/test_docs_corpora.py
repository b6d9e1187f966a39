"""docs/corpora.md agrees with schemas/: one row per built-in schema, every column as the schema says."""
from pathlib import Path

from schemas.loader import builtin_names, load
from tag_builder.languages import LANGUAGE_TOKENS

DOC = Path(__file__).resolve().parents[1] / "docs" / "corpora.md"


def expected_cells(name: str) -> list[str]:
    schema = load(name)
    codes = schema.languages or ([schema.language] if schema.language else [])
    usable = [c for c in codes if c in LANGUAGE_TOKENS]
    refused = [c for c in codes if c not in LANGUAGE_TOKENS]
    if not codes:
        languages = "none (sound)"
    else:
        languages = ", ".join(usable)
        if refused:
            languages += f" ({', '.join(refused)})"
        elif schema.record.language is not None:  # per-record languages beyond the listed ones
            languages += " (any other)"
    layout = schema.layout.kind + (" + joins" if schema.joins else "") + (" + audio_files" if schema.audio_files else "")
    layout += " + extra root" if schema.roots else ""
    return [
        f"`schemas/{name}.yaml`",
        schema.license,
        languages,
        ", ".join(b.task for b in schema.tasks),
        layout,
        schema.text_form or "-",
        ", ".join(split for split, role in schema.splits.items() if role == "eval") or "-",
    ]


def table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[1].startswith("`schemas/"):
            rows[cells[1][len("`schemas/") : -len(".yaml`")]] = cells[1:]
    return rows


def test_every_schema_has_a_row_that_matches_it():
    rows = table_rows()
    assert sorted(rows) == builtin_names()
    for name in builtin_names():
        assert rows[name] == expected_cells(name), name
