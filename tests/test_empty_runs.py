"""No silent empty run: a root where the schema's metadata pattern matches nothing fails before any
work, suggesting the folder where it matches; a corpus that yields no record fails the run unless
allowed; --srwt without the aligner installed is refused before any audio is decoded."""
import shutil
from pathlib import Path

import pytest

from conftest import audioprep
from pipelines import workflow
from pipelines.demo import write_clotho, write_librispeech


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("empty")
    write_librispeech(str(top / "corpora" / "LibriSpeech"), {"train-clean-5": 2, "dev-clean-2": 1}, missing_audio=False)
    write_clotho(str(top / "corpora" / "clotho"), too_long=False)
    return {"librispeech": top / "corpora" / "LibriSpeech", "clotho": top / "corpora" / "clotho"}


def _text(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize("where", ["above", "below"])
def test_a_root_one_level_off_fails_before_any_work_and_names_the_right_folder(corpora, tmp_path, where):
    right = corpora["librispeech"]
    wrong = right.parent if where == "above" else right / "train-clean-5"
    out = tmp_path / "out"
    result = audioprep("run", "--dataset", f"librispeech={wrong}", "--out", str(out), "--engine", "local", check=False)
    assert result.returncode != 0
    message = _text(result)
    assert f"corpus root {wrong}" in message and "{split}/{speaker}/{chapter}/{speaker}-{chapter}.trans.txt" in message, message
    assert f"it matches under {right}: give --dataset librispeech={right}" in message, message
    assert not out.exists()  # nothing ingested, nothing planned


def test_a_root_where_nothing_matches_nearby_says_so(tmp_path):
    (tmp_path / "elsewhere" / "notes").mkdir(parents=True)
    result = audioprep("run", "--dataset", f"librispeech={tmp_path / 'elsewhere'}", "--out", str(tmp_path / "out"), check=False)
    assert result.returncode != 0
    assert "nor anywhere within two levels above or below it" in _text(result)


def test_a_corpus_that_yields_no_record_fails_the_run_unless_allowed(corpora, tmp_path):
    empty = tmp_path / "LibriSpeech"
    shutil.copytree(corpora["librispeech"], empty)
    for transcript in empty.rglob("*.trans.txt"):
        transcript.write_text("")  # the pattern matches; no line, so no record
    out = tmp_path / "out"
    datasets = ("--dataset", f"librispeech={empty}", "--dataset", f"clotho={corpora['clotho']}")
    refused = audioprep("run", *datasets, "--out", str(out), "--engine", "local", check=False)
    assert refused.returncode != 0
    message = _text(refused)
    assert f"no record from librispeech from {empty}" in message and "--allow-empty librispeech" in message, message
    assert not list(out.rglob("*.tar")) and not (out / "summary.json").exists()
    allowed = audioprep("run", *datasets, "--out", str(out), "--engine", "local", "--allow-empty", "librispeech")
    assert allowed.returncode == 0
    assert list(out.rglob("*.tar")) and (out / "summary.json").exists()


def test_allow_empty_passes_through_the_one_run_resolution_and_is_checked(tmp_path):
    run = workflow.resolve_run(corpora=["clotho=/data/clotho"], out=str(tmp_path / "out"), allow_empty=["clotho"])["run"]
    config = workflow.run_config(run)
    assert config.allow_empty == ("clotho",)
    assert "allow_empty" not in config.fingerprinted()  # allowing an empty corpus changes no output byte
    with pytest.raises(workflow.Permanent, match="--allow-empty librispeech: not a corpus of this run"):
        workflow.resolve_run(corpora=["clotho=/data/clotho"], out=str(tmp_path / "out"), allow_empty=["librispeech"])
    config_file = tmp_path / "run.yaml"
    config_file.write_text(f"out: {tmp_path / 'out'}\ndatasets: [{{name: clotho, root: /data/clotho}}]\nallow_empty: [clotho]\n")
    assert workflow.run_config(workflow.resolve_run(config_file=str(config_file))["run"]).allow_empty == ("clotho",)


def test_srwt_without_the_aligner_is_refused_before_any_work_with_the_install_hint(corpora, tmp_path):
    shadow = tmp_path / "shadow"  # pocketsphinx made unimportable, as where the longform extra is not installed
    shadow.mkdir()
    (shadow / "pocketsphinx.py").write_text("raise ImportError('No module named pocketsphinx')\n")
    import os

    env = {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    result = audioprep("run", "--dataset", f"librispeech={corpora['librispeech']}", "--out", str(out), "--srwt",
                       "--engine", "local", check=False, env=env)
    assert result.returncode != 0
    message = _text(result)
    assert "--srwt for librispeech (en)" in message and "pip install 'audioprep[longform]'" in message, message
    assert not out.exists()
