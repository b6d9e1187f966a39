"""Load a dataset schema by name (``schemas/<name>.yaml``) or path, with errors that name the line."""
from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.model import DatasetSchema


class SchemaError(ValueError):
    """A schema file that cannot be used; the message names the file, the field and the line."""


def builtin_names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in files("schemas").iterdir() if p.name.endswith(".yaml"))


def resolve(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise SchemaError(f"schema file {name_or_path} does not exist")
        return candidate
    builtin = files("schemas").joinpath(f"{name_or_path}.yaml")
    if not builtin.is_file():
        raise SchemaError(
            f"no schema named {name_or_path!r}; built-in schemas: {', '.join(builtin_names())} "
            "(or give the path of a .yaml file)"
        )
    return Path(str(builtin))


def _line_of(node: yaml.Node, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc`` (or its nearest parent)."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def format_validation_error(path: Path, text: str, error: ValidationError) -> str:
    """Pydantic errors as lines a person can act on: file, line, field, what is allowed."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    lines = [f"{path}: {error.error_count()} problem(s)"]
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p in ("lines", "table", "files", "str", "MappedValue")))
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc) if root is not None else None
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        elif item["type"] == "literal_error":
            message = f"{item['input']!r} is not allowed; expected {item['ctx']['expected']}"
        lines.append(f"  line {line}: {where}: {message}" if line else f"  {where}: {message}")
    return "\n".join(lines)


def parse(text: str, path: Path) -> DatasetSchema:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: a schema is a YAML mapping (name:, layout:, record:, tasks:, ...)")
    try:
        return DatasetSchema.model_validate(data)
    except ValidationError as exc:
        raise SchemaError(format_validation_error(path, text, exc)) from None


def load(name_or_path: str) -> DatasetSchema:
    path = resolve(name_or_path)
    return parse(path.read_text(encoding="utf-8"), path)


def json_schema() -> str:
    return json.dumps(DatasetSchema.model_json_schema(), indent=2, sort_keys=True)
