"""The demo's shards, byte for byte, as they were before the package was reorganized by stage.

``tests/data/demo_shards.json`` holds the sha256 of every shard of `make demo`'s run (the demo corpora,
default shard bounds), recorded before the layout changed. Moving code must not move a byte; a
change that means to change the output updates the file in the same commit, saying why.
"""
import hashlib
import json
from pathlib import Path

from conftest import audioprep

GOLDEN = Path(__file__).parent / "data" / "demo_shards.json"


def shard_hashes(out: Path) -> dict[str, str]:
    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*.tar")) if "_work" not in path.parts
    }


def test_the_demo_run_writes_the_recorded_shards(demo_corpora, tmp_path):
    out = tmp_path / "out"
    flags = [f"--dataset={name}={root}" for name, root in demo_corpora.items()]
    audioprep("run", *flags, "--out", str(out), "--engine", "local")
    assert shard_hashes(out) == json.loads(GOLDEN.read_text())
