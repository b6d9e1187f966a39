"""The layers of the house, kept by reading the import statements of every source file (with ``ast``).

- ``tag_builder/`` imports nothing of ``schemas`` or ``pipelines``; ``schemas/`` nothing of ``pipelines``;
- inside ``pipelines/`` the stages are layers in the order a record travels (``LAYERS``): a module
  imports only from its own layer or an earlier one, so the core imports no stage;
- only ``pipelines/runners/`` imports Apache Beam or Ray, only ``dags/`` imports Airflow;
- no import cycle between modules;
- ``audioprep --help`` loads none of the heavy libraries.

Imports inside functions count like any other: a deferred import in a loop is still a loop.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "schemas", "tag_builder", "dags")

#: pipelines' layers, earliest first (docs/architecture.md); a module may import its own layer or earlier ones
LAYERS = (
    ("pipelines", "pipelines.core", "pipelines.record"),
    ("pipelines.ingest", "pipelines.layouts"),
    ("pipelines.plan",),
    ("pipelines.prepare",),
    ("pipelines.finalize",),
    ("pipelines.report",),
    ("pipelines.reader", "pipelines.export"),
    ("pipelines.runners",),
    ("pipelines.workflow", "pipelines.demo"),
    ("pipelines.cli",),
)
ENGINE_LIBRARIES = {"apache_beam": "pipelines.runners", "ray": "pipelines.runners", "airflow": "dags"}
HEAVY = ("numpy", "soundfile", "soxr", "pyarrow", "apache_beam", "ray", "av", "matplotlib", "torch")


def modules_of(top: Path) -> dict[str, Path]:
    """Every module of the project under ``top``: dotted name -> file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((top / package).rglob("*.py")):
            parts = list(path.relative_to(top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """What ``name`` imports: project modules by name, other libraries by their top-level name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else base)
    return {target if target.split(".")[0] in PACKAGES else target.split(".")[0] for target in found}


def layer_of(module: str) -> int | None:
    """The layer of a module of pipelines (the package itself, or a module under one of LAYERS' names)."""
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or (prefix != "pipelines" and module.startswith(prefix + ".")) for prefix in prefixes):
            return index
    return None


def violations(top: Path) -> list[str]:
    modules = modules_of(top)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    problems = [f"{name}: a module outside every layer of LAYERS" for name in graph if name.startswith("pipelines") and layer_of(name) is None]
    for name, targets in sorted(graph.items()):
        group = name.split(".")[0]
        for target in sorted(targets):
            owner = ENGINE_LIBRARIES.get(target)
            if owner and not (name == owner or name.startswith(owner + ".")):
                problems.append(f"{name} imports {target}: only {owner} may")
            if target.split(".")[0] not in PACKAGES:
                continue
            if group == "tag_builder" and not target.startswith("tag_builder"):
                problems.append(f"{name} imports {target}: tag_builder imports nothing of the project")
            if group == "schemas" and target.startswith("pipelines"):
                problems.append(f"{name} imports {target}: schemas import nothing of pipelines")
            if group == "pipelines" and target.startswith("pipelines"):
                here, there = layer_of(name), layer_of(target)
                if here is not None and there is not None and there > here:
                    problems.append(f"{name} imports {target}: a later stage ({LAYERS[there][0]} after {LAYERS[here][0]})")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles({n: {t for t in ts if t in graph} for n, ts in graph.items()})]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_project_keeps_its_layers():
    assert violations(PROJECT) == []


@pytest.mark.parametrize(
    "module, line, expected",
    [
        ("tag_builder/extra.py", "from schemas.model import DatasetSchema", "tag_builder imports nothing"),
        ("schemas/extra.py", "from pipelines.core.record import Record", "schemas import nothing of pipelines"),
        ("pipelines/core/extra.py", "def f():\n    from pipelines.prepare.units import UnitProcessor", "a later stage"),
        ("pipelines/ingest/extra.py", "import apache_beam", "only pipelines.runners may"),
        ("pipelines/workflow_extra.py", "import os", "outside every layer"),
        ("pipelines/report/extra.py", "import airflow", "only dags may"),
        ("pipelines/plan/a.py", "from pipelines.plan import b", "import cycle"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, module, line, expected):
    """The checker itself: a copy of the project with one bad import added fails, naming it."""
    for package in PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            target = tmp_path / path.relative_to(PROJECT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / module).write_text(line + "\n", encoding="utf-8")
    if module == "pipelines/plan/a.py":
        (tmp_path / "pipelines/plan/b.py").write_text("from pipelines.plan import a\n", encoding="utf-8")
    found = set(violations(tmp_path)) - set(violations(PROJECT))
    assert found and all(expected in problem for problem in found), found


def test_the_command_s_help_loads_no_heavy_library():
    script = (
        "import sys\n"
        "sys.argv = ['audioprep', '--help']\n"
        "from pipelines.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "Usage" in done.stdout
    assert "LOADED []" in done.stdout, done.stdout[-500:]
