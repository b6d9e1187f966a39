"""Language checks with langid: verdicts, the calibration set, the stage, and a mislabelled corpus
caught end to end."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf
import webdataset as wds

from pipelines.prepare import language_check
from pipelines.demo import synth
from pipelines.prepare.language_check import LONG_MARGIN, LONG_SCORE, MIN_LETTERS, check
from pipelines.core.record import Drop, Record
from pipelines.prepare.stages import Sample, check_language

from conftest import PROJECT, run_pipeline, shared_corpus


def _load_calibration():
    """bench/language_calibration.py: the calibration set, its forms and its tallies."""
    spec = importlib.util.spec_from_file_location("language_calibration", PROJECT / "bench" / "language_calibration.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


calibration = _load_calibration()

# (text, declared, detected, verdict)
VERDICTS = [
    ("he hoped there would be stew for dinner turnips and carrots and bruised potatoes", "en", "en", "match"),
    ("der schnelle braune fuchs springt über den faulen hund", "en", "de", "mismatch"),
    ("ich habe heute leider keine zeit für dich, vielleicht morgen", "en", "de", "mismatch"),
    ("nous allons au marché demain matin avec les enfants", "de", "fr", "mismatch"),
    ("vamos a la playa mañana por la mañana con mis amigos", "en", "es", "mismatch"),
    ("而对楼市成交抑制作用最大的限购", "en", "zh", "mismatch"),
    ("これはペンです、あれは本です", "zh", "ja", "mismatch"),
    ("我們今天去公園散步好嗎", "zh_tr", "zh", "match"),
    ("안녕하세요 반갑습니다 오늘 날씨가 좋네요", "ko", "ko", "match"),
    ("der schnelle braune fuchs springt ueber den faulen hund", "en", "de", "uncertain"),  # margin 0.6, nine words
    # issue 23: ten words or more, written without umlauts (margin 0.69)
    ("der schnelle braune fuchs springt ueber den faulen hund und laeuft in den wald", "en", "de", "mismatch"),
    # an English sentence whose French margin (1.16) rests on two names
    ("père pamphile had seen dantès pass not ten minutes before", "en", "fr", "uncertain"),
    ("guten morgen", "en", "de", "short"),  # 11 letters: too short to judge
    ("yes sir", "en", None, "short"),
    ("好", "zh", None, "short"),
]


@pytest.mark.parametrize("text,declared,detected,verdict", VERDICTS)
def test_verdicts(text, declared, detected, verdict):
    result = check(text, declared)
    assert result.verdict == verdict and result.declared == declared
    if detected:
        assert result.detected == detected
    if verdict == "mismatch":
        assert result.score >= LONG_SCORE and result.margin >= LONG_MARGIN


def test_letters_are_the_characters_of_unicode_category_l():
    """``letters`` counts with ``str.isalpha``: the same characters as category L*, over every code point."""
    import sys
    import unicodedata

    assert all(chr(c).isalpha() == unicodedata.category(chr(c)).startswith("L") for c in range(sys.maxunicode + 1))
    assert language_check.letters("3 café, 我們 ｈｉ!") == 8


def test_only_languages_with_tokens_are_considered_and_the_model_loads_once():
    assert language_check.identifier() is language_check.identifier()
    assert sorted(map(str, language_check.identifier().nb_classes)) == ["de", "en", "es", "fr", "it", "ja", "ko", "zh"]
    assert check("some text in a language without a token", "xx") is None


def test_the_scorer_gives_langids_own_log_probabilities():
    """``check`` sums each visited automaton state's feature log-probabilities (precomputed) instead of
    langid's feature vector and dot product: the numbers must be langid's own, on real transcripts of
    two scripts, on mixed and odd text, and on nothing at all."""
    import numpy as np

    found = language_check.identifier()
    scorer = language_check._scorer(found)
    libri = shared_corpus("librispeech", "LibriSpeech")
    texts = [line.split(" ", 1)[1].lower() for path in sorted(libri.rglob("*.trans.txt")) for line in path.read_text().splitlines()]
    aishell = shared_corpus("aishell", "data_aishell", "transcript", "aishell_transcript_v0.8.txt")
    texts += ["".join(line.split()[1:]) for line in aishell.read_text(encoding="utf-8").splitlines()]
    texts += [text for text, *_ in VERDICTS] + ["", " ", "3 café, 我們 ｈｉ!", "\x00\U0010ffff" * 3, "ab" * 500]
    assert len(texts) > 40
    for text in texts:
        expected = np.asarray(found.nb_classprobs(found.instance2fv(text)), dtype=np.float64)
        assert np.allclose(scorer.logprobs(text), expected, rtol=1e-12, atol=1e-9), text
    assert scorer.classes == tuple(map(str, found.nb_classes))


def test_real_transcripts_match_their_language():
    libri = shared_corpus("librispeech", "LibriSpeech")
    for path in sorted(libri.rglob("*.trans.txt")):
        for line in path.read_text().splitlines():
            result = check(line.split(" ", 1)[1].lower(), "en")
            assert result.verdict in {"match", "short"} and result.detected == "en", (path, line)
    aishell = shared_corpus("aishell", "data_aishell", "transcript", "aishell_transcript_v0.8.txt")
    for line in aishell.read_text(encoding="utf-8").splitlines():
        assert check("".join(line.split()[1:]), "zh").verdict == "match"


def test_the_calibration_set_holds_real_sentences_in_every_token_language():
    """At least 50 sentences of ten words or more (Chinese and Japanese: fifteen letters) per language
    with a token, each row naming a source that README.md describes, tuning and held-out parts both."""
    found = calibration.sentences()
    assert sorted(found) == sorted({code for code in language_check.LANGID_CODE.values()})
    readme = (calibration.CALIBRATION / "README.md").read_text(encoding="utf-8")
    for language, rows in found.items():
        assert sum(calibration.is_long(text, language) for _, text in rows) >= 50, language
        assert all(f"`{source}`" in readme for source, _ in rows), language
        assert calibration.sentences("held-out")[language] and calibration.sentences("tuning")[language], language


@pytest.mark.parametrize("language", ["de", "en", "es", "fr", "it", "ja", "ko", "zh"])
def test_long_sentences_declared_in_another_language_are_quarantined_and_none_in_its_own(language):
    """Every sentence of ten words or more of the calibration set as written, declared English
    (English and Japanese: Chinese too), is quarantined, and 98% or more of them lower-cased without
    punctuation or spelled in ASCII letters (docs/text.md lists the few that pass); no sentence of any
    length is quarantined in its own language, in any form, names and all."""
    tallies = calibration.evaluate({language: calibration.sentences()[language]})
    for (_, declared, form), tally in tallies.items():
        assert tally.refused == [], (declared, form)
        if declared != language:
            assert tally.long > 0 and tally.long_caught >= (tally.long if form == "written" else 0.98 * tally.long), (declared, form, tally.missed)


def test_the_issues_sentence_is_quarantined_and_a_name_does_not_make_a_sentence_foreign():
    german = check("DER SCHNELLE BRAUNE FUCHS SPRINGT UEBER DEN FAULEN HUND UND LAEUFT IN DEN WALD".lower(), "en")
    assert (german.detected, german.verdict) == ("de", "mismatch") and german.margin < language_check.MIN_MARGIN
    names = check("PERE PAMPHILE HAD SEEN DANTES PASS NOT TEN MINUTES BEFORE".lower(), "en")
    assert names.verdict in ("match", "uncertain")
    assert check("père pamphile had seen dantès pass not ten minutes before", "en").verdict == "uncertain"


def _fixture_corpora(root: Path):
    """(schema, root, extra roots) of every built-in corpus the test fixtures write."""
    from fixtures import audio_corpora, speech_corpora

    from pipelines.demo import write_clotho, write_librispeech

    corpora = []
    for module in (speech_corpora, audio_corpora):
        for name in dir(module):
            schema = name.removeprefix("write_")
            if name.startswith("write_") and (PROJECT / "schemas" / f"{schema}.yaml").exists() and schema not in ("covost2", "librimix"):
                getattr(module, name)(str(root / schema))
                corpora.append((schema, root / schema, None))
    speech_corpora.write_covost2(str(root / "covost2"), str(root / "cv"))
    speech_corpora.write_librimix(str(root / "librimix"), str(root / "libri"))
    write_librispeech(str(root / "LibriSpeech"))
    write_clotho(str(root / "demo_clotho"))
    return corpora + [
        ("covost2", root / "covost2", {"common_voice": str(root / "cv")}),
        ("librimix", root / "librimix", {"librispeech": str(root / "libri")}),
        ("librispeech", root / "LibriSpeech", None),
        ("clotho", root / "demo_clotho", None),
    ]


def test_every_english_transcript_of_the_test_fixtures_and_shared_corpora_passes(tmp_path):
    """The English texts of every corpus the tests write (the demo's included), as ingest normalizes
    them, and the English transcripts and captions of ../shared/corpora: none is quarantined."""
    from pipelines.ingest.corpus import ingest
    from schemas.loader import load

    checked = []
    for schema, root, roots in _fixture_corpora(tmp_path):
        for record in ingest(load(schema), schema, str(root), roots):
            if not isinstance(record, Record):
                continue
            for text, language in ((record.text, record.text_language), (record.translation, record.translation_language)):
                if text and language == "en":
                    checked.append(text)
                    assert check(text, "en").verdict != "mismatch", (schema, text)
    assert len(checked) > 30
    shared = calibration.shared_english()
    if not shared:
        pytest.skip("../shared/corpora is absent")
    assert [text for text in shared if check(text, "en").verdict == "mismatch"] == []


def _sample(text: str, language: str = "en", **fields) -> Sample:
    record = Record(dataset="toy", split="train", role="train", key="toy-1", audio="a.flac", language=language,
                    text_language=language, text=text, source="a.trans.txt:7", **fields)
    return Sample(record)


def test_stage_quarantines_a_confident_mismatch_naming_the_source():
    result = check_language(_sample("der schnelle braune fuchs springt über den faulen hund"))
    assert isinstance(result, Drop)
    assert (result.stage, result.reason, result.key, result.source) == ("check_language", "language_mismatch", "toy-1", "a.trans.txt:7")
    assert result.detail.startswith("a.trans.txt:7: text reads as de (langid score 1.0") and "not the declared en" in result.detail


def test_stage_checks_the_translation_against_its_own_language():
    ok = check_language(_sample("he hoped there would be stew for dinner tonight", translation="er hoffte, dass es heute eintopf zum abendessen gäbe", translation_language="de"))
    assert isinstance(ok, Sample) and [(n, c.verdict) for n, c in ok.language_checks] == [("text", "match"), ("translation", "match")]
    bad = check_language(_sample("he hoped there would be stew for dinner tonight", translation="he hoped there would be stew for dinner tonight", translation_language="de"))
    assert isinstance(bad, Drop) and bad.detail.startswith("a.trans.txt:7: translation reads as en")


def test_short_and_uncertain_texts_pass_with_their_flag_and_detected_language():
    short = check_language(_sample("guten morgen"))
    assert isinstance(short, Sample) and short.detected_language == "de"
    assert short.language_checks[0][1].verdict == "short" and len("guten morgen") < MIN_LETTERS
    unchecked = check_language(Sample(Record(dataset="toy", split="train", role="train", key="k", audio="a", text=None)))
    assert unchecked.language_checks == () and unchecked.detected_language is None


def _write_librispeech_like(root: Path, lines: dict[str, str]) -> None:
    """A LibriSpeech-layout corpus (train-clean-5, one chapter) holding exactly ``lines``."""
    folder = root / "train-clean-5" / "100" / "5000"
    folder.mkdir(parents=True)
    for utt in lines:
        sf.write(str(folder / f"{utt}.flac"), synth(1.5, 16000, seed=utt), 16000, subtype="PCM_16")
    (folder / "100-5000.trans.txt").write_text("".join(f"{utt} {text}\n" for utt, text in lines.items()))


def test_german_transcripts_under_an_english_schema_are_quarantined_end_to_end(tmp_path):
    lines = {
        "100-5000-0000": "HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS",
        "100-5000-0001": "DER SCHNELLE BRAUNE FUCHS SPRINGT ÜBER DEN FAULEN HUND",
        "100-5000-0002": "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM",
        "100-5000-0003": "ICH HABE HEUTE LEIDER KEINE ZEIT FUER DICH VIELLEICHT MORGEN",
        "100-5000-0004": "GUTEN MORGEN",
        "100-5000-0005": "DER SCHNELLE BRAUNE FUCHS SPRINGT UEBER DEN FAULEN HUND UND LAEUFT IN DEN WALD",
    }
    _write_librispeech_like(tmp_path / "corpus", lines)
    out = tmp_path / "out"
    summary = run_pipeline({"librispeech": str(tmp_path / "corpus")}, out)
    assert summary["balanced"] is True
    assert summary["datasets"]["librispeech"]["input"] == 6
    assert summary["datasets"]["librispeech"]["quarantined"] == 3
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert sorted((r["stage"], r["reason"], r["source"]) for r in rows) == [
        ("check_language", "language_mismatch", "train-clean-5/100/5000/100-5000.trans.txt:2"),
        ("check_language", "language_mismatch", "train-clean-5/100/5000/100-5000.trans.txt:4"),
        ("check_language", "language_mismatch", "train-clean-5/100/5000/100-5000.trans.txt:6"),
    ]
    assert all(" reads as de " in r["detail"] for r in rows)

    written = {}
    for shard in json.loads((out / "index.json").read_text())["shards"]:
        for row in wds.WebDataset(str(out / shard["path"]), shardshuffle=False):
            meta = json.loads(row["json"])
            written[meta["key"]] = meta
    assert sorted(written) == ["librispeech-100-5000-0000", "librispeech-100-5000-0002", "librispeech-100-5000-0004"]
    stew = written["librispeech-100-5000-0000"]
    assert stew["tasks"][0]["target"] == "he hoped there would be stew for dinner turnips and carrots"
    assert stew["text_raw"] == lines["100-5000-0000"]
    assert stew["language_check"]["text"]["verdict"] == "match" and stew["language_check"]["text"]["detected"] == "en"
    short = written["librispeech-100-5000-0004"]["language_check"]["text"]
    assert (short["declared"], short["detected"], short["verdict"]) == ("en", "de", "short")
    stats = json.loads((out / "stats.json").read_text())["total"]
    assert stats["samples_by_language_verdict"] == {"librispeech/text/match": 2, "librispeech/text/short": 1}
    assert stats["samples_by_language_check"] == {"librispeech/en/de": 1, "librispeech/en/en": 2}
    manifest = pq.read_table(out / "manifests" / "librispeech.parquet").to_pylist()  # raw beside normalized
    assert {r["key"]: (r["text"], r["text_raw"]) for r in manifest}["librispeech-100-5000-0001"] == (
        "der schnelle braune fuchs springt über den faulen hund", lines["100-5000-0001"])


def test_the_cached_model_gives_langids_own_answers_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOPREP_CACHE", str(tmp_path))
    language_check.identifier.cache_clear()
    try:
        built = [check(text, declared) for text, declared, _, _ in VERDICTS]  # from langid's model string
        [cached_file] = list(tmp_path.glob("langid-*.npz"))
        language_check.identifier.cache_clear()
        assert [check(text, declared) for text, declared, _, _ in VERDICTS] == built  # from the cache
        cached_file.write_bytes(b"not an npz")
        language_check.identifier.cache_clear()
        assert [check(text, declared) for text, declared, _, _ in VERDICTS] == built
        assert cached_file.stat().st_size > 1_000_000  # rebuilt
    finally:
        language_check.identifier.cache_clear()
