"""DNSMOS, the optional model-based quality score: measured only when the run config asks for it.

Real speech (espeak-ng) and the models the speechmos wheel ships, run by onnxruntime; the first
score of a process compiles librosa's numba functions, hence slow.
"""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from pipelines.core.audio import to_int16
from pipelines.core.run_config import RunConfigError, load_run_config

from conftest import audioprep
from test_quality import _corpus, _speech, _write_config, needs_espeak

pytest.importorskip("speechmos", reason="the dnsmos extra is not installed")


def test_a_dnsmos_rule_without_dnsmos_is_an_error(tmp_path):
    with pytest.raises(RunConfigError) as error:
        load_run_config(_write_config(tmp_path, "  dnsmos_ovrl: {min: 3}\n"))
    assert "filters on dnsmos_ovrl need dnsmos: true" in str(error.value)
    path = _write_config(tmp_path, "  dnsmos_ovrl: {min: 3}\n")
    path.write_text(path.read_text() + "dnsmos: true\n")
    config, _ = load_run_config(path)
    assert config.dnsmos and config.filters["rules"]["dnsmos_ovrl"]["min"] == 3


@pytest.mark.slow
@needs_espeak
def test_noise_lowers_the_dnsmos_scores_and_scores_repeat():
    from pipelines.prepare import dnsmos

    speech = _speech()
    noise = np.random.default_rng(0).standard_normal(len(speech)).astype(np.float32)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2))  # 0 dB
    noisy = speech + noise
    clean_scores = dnsmos.measure(to_int16(speech))
    noisy_scores = dnsmos.measure(to_int16(noisy / np.abs(noisy).max() * 0.7))
    assert list(clean_scores) == ["dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"]
    assert all(1 <= v <= 5 for v in [*clean_scores.values(), *noisy_scores.values()])
    assert noisy_scores["dnsmos_bak"] < clean_scores["dnsmos_bak"] - 1
    assert noisy_scores["dnsmos_ovrl"] < clean_scores["dnsmos_ovrl"]
    assert dnsmos.measure(to_int16(speech)) == clean_scores  # the same clip, the same scores


@pytest.mark.slow
def test_a_run_asking_for_dnsmos_scores_its_speech_clips(tmp_path):
    _corpus(tmp_path / "corpus")
    config = _write_config(tmp_path, "  clipping: {max: 0.01}\n")
    config.write_text(config.read_text() + "dnsmos: true\n")
    plan = audioprep("run", str(config), "--plan")
    assert "DNSMOS: measured on speech clips" in plan.stdout + plan.stderr
    audioprep("run", str(config), "--engine", "local")
    scored = 0
    for shard in sorted((tmp_path / "out").rglob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    measured = json.loads(tar.extractfile(member).read())["quality"]
                    assert 1 <= measured["dnsmos_ovrl"] <= 5 and "dnsmos_p808" in measured
                    scored += 1
    assert scored > 0


def test_a_run_asking_for_dnsmos_without_the_extra_is_refused_naming_it(monkeypatch):
    from pipelines.prepare import dnsmos
    from pipelines.prepare.stages import make_audio_stage

    monkeypatch.setitem(__import__("sys").modules, "speechmos", None)  # as if the extra were not installed
    with pytest.raises(dnsmos.DnsmosMissing) as error:
        make_audio_stage(30.0, {}, with_dnsmos=True)
    assert "pip install 'audioprep[dnsmos]'" in str(error.value) and "speechmos" in str(error.value)
    make_audio_stage(30.0, {})  # a run that does not ask needs nothing
