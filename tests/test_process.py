"""Process-wide settings are made by entry points, never by importing the package (core/process.py)."""
import os
import subprocess
import sys

ALLOCATOR = (
    "import os, subprocess, sys\n"
    "{setup}\n"
    "import pyarrow as pa\n"
    "child = subprocess.run([sys.executable, '-c', 'import pyarrow as pa; print(pa.default_memory_pool().backend_name)'],\n"
    "                       capture_output=True, text=True, check=True).stdout.strip()\n"
    "print(pa.default_memory_pool().backend_name, child)\n"
)


def run_python(script: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True, env={**base, **env})
    return done.stdout


def test_importing_every_module_of_the_package_changes_no_environment_variable():
    script = (
        "import os, pkgutil, importlib\n"
        "before = dict(os.environ)\n"
        "import pipelines\n"
        "for m in pkgutil.walk_packages(pipelines.__path__, 'pipelines.'):\n"
        "    if not m.name.startswith('pipelines.runners.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(set(os.environ.items()) ^ set(before.items())))\n"
    )
    assert run_python(script).split("\n")[-2] == "[]"


def test_the_entry_points_give_arrow_the_c_library_allocator_unless_the_environment_chooses():
    """Arrow's mimalloc kept planning's freed pages resident all run, growing with the corpus
    (bench/README.md, "Memory"): the command's entry point chooses the system allocator before
    pyarrow is imported, for its process and those it starts; a user's choice is kept."""
    setup = "from pipelines.core.process import prefer_system_allocator; prefer_system_allocator()"
    assert run_python(ALLOCATOR.format(setup=setup)).split() == ["system", "system"]
    assert run_python(ALLOCATOR.format(setup=setup), ARROW_DEFAULT_MEMORY_POOL="mimalloc").split() == ["mimalloc", "mimalloc"]
    assert run_python(ALLOCATOR.format(setup="import pipelines.cli")).split() == ["mimalloc", "mimalloc"]  # importing is not enough
    command = (
        "import os, sys\n"
        "sys.argv = ['audioprep', '--help']\n"
        "from pipelines.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('POOL', os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))\n"
    )
    assert "POOL system" in run_python(command)
