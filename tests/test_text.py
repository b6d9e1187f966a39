"""Text normalization: every corpus style, the real transcripts, properties, the stage, the command."""
from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipelines.core.record import ARROW_SCHEMA, Drop, Record, records_table
from pipelines.ingest.text import basic, punctuation
from pipelines.prepare.stages import Sample, make_tagger
from pipelines.ingest.text import explain, normalize_record, normalize_text, steps_for
from schemas.loader import load
from schemas.text import Normalize
from tag_builder.vocabulary import token_spellings

from conftest import audioprep, shared_corpus

GIGASPEECH = Normalize(
    markup={
        "<COMMA>": ",", "<PERIOD>": ".", "<QUESTIONMARK>": "?", "<EXCLAMATIONPOINT>": "!",
        "<SIL>": "", "<MUSIC>": "", "<NOISE>": "", "<OTHER>": "",
    },
    case="lower_all_caps",
)
LOWER = Normalize(case="lower")
KEEP = Normalize()
TRAD_TAG = Normalize(chinese="traditional_tag")
TEDLIUM_DROP = Normalize(markup={"<unk>": ""})
TEDLIUM_REFUSE = Normalize(refuse_markup=["<unk>"])

# (corpus style, language, rules, as the corpus writes it, normalized, text language after)
CASES = [
    ("LibriSpeech caps", "en", LOWER, "HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS", "he hoped there would be stew for dinner turnips and carrots", "en"),
    ("LibriSpeech apostrophe", "en", LOWER, "I'M AFRAID I DON'T KNOW SIR", "i'm afraid i don't know sir", "en"),
    ("mixed case kept", "en", Normalize(case="lower_all_caps"), "NASA said the iPhone was fine", "NASA said the iPhone was fine", "en"),
    ("all caps lowered", "en", Normalize(case="lower_all_caps"), "PAPER RUSTLING WAS EVIDENT.", "paper rustling was evident.", "en"),
    ("casing kept by default", "en", KEEP, "PAPER RUSTLING WAS EVIDENT.", "PAPER RUSTLING WAS EVIDENT.", "en"),
    ("GigaSpeech punctuation tags", "en", GIGASPEECH, "AS THEY'RE LEAVING <COMMA> CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY <QUESTIONMARK>", "as they're leaving, can kash pull zahra aside really quickly?", "en"),
    ("GigaSpeech garbage tags", "en", GIGASPEECH, "<NOISE> I THINK SO <PERIOD> <SIL>", "i think so.", "en"),
    ("GigaSpeech exclamation", "en", GIGASPEECH, "WOW <EXCLAMATIONPOINT> <MUSIC> THAT WAS GREAT <PERIOD>", "wow! that was great.", "en"),
    ("TED-LIUM <unk> removed", "en", TEDLIUM_DROP, "and so <unk> we started the project", "and so we started the project", "en"),
    ("Common Voice curly quotes", "en", KEEP, "“It’s a trap,” he said.", "\"It's a trap,\" he said.", "en"),
    ("numbers not rewritten", "en", KEEP, "In 1984 it cost $3.50, i.e. 1,000 cents", "In 1984 it cost $3.50, i.e. 1,000 cents", "en"),
    ("control and zero-width characters", "en", KEEP, "\ufeffzero\u200bwidth\u00a0space\tand\r\nnewline\x07", "zerowidth space and newline", "en"),
    ("ligature and full-width (NFKC)", "en", KEEP, "the ﬁnal ｓｃｏｒｅ", "the final score", "en"),
    ("space before punctuation", "en", KEEP, "well , I think so . ( really )", "well, I think so. (really)", "en"),
    ("AISHELL word spaces", "zh", KEEP, "而 对 楼市 成交 抑制 作用 最 大 的 限 购", "而对楼市成交抑制作用最大的限购", "zh"),
    ("Chinese full-width ASCII", "zh", KEEP, "我用 ｉＰｈｏｎｅ １２ 打电话", "我用 iPhone 12 打电话", "zh"),
    ("Chinese punctuation one form", "zh", KEEP, "你好, 世界. 好吗?", "你好，世界。好吗？", "zh"),
    ("Chinese full-width punctuation kept", "zh", KEEP, "你好，世界。好吗？", "你好，世界。好吗？", "zh"),
    ("Chinese ellipsis", "zh", KEEP, "他说……好吧", "他说……好吧", "zh"),
    ("Chinese decimal kept", "zh", KEEP, "增长了 3.5 个百分点", "增长了 3.5 个百分点", "zh"),
    ("Traditional to Simplified", "zh", KEEP, "我們今天去公園，好嗎？", "我们今天去公园，好吗？", "zh"),
    ("Traditional words kept, characters converted", "zh", KEEP, "臺灣的電腦軟體", "台湾的电脑软体", "zh"),
    ("Traditional tagged", "zh", TRAD_TAG, "我們今天去公園，好嗎？", "我們今天去公園，好嗎？", "zh_tr"),
    ("Simplified under traditional_tag", "zh", TRAD_TAG, "我们今天去公园", "我们今天去公园", "zh"),
    ("Chinese kept as written", "zh", Normalize(chinese="keep"), "我們 今天", "我們今天", "zh"),
    ("declared Traditional kept (Common Voice zh-TW)", "zh_tr", KEEP, "我們 今天， 去公園", "我們今天，去公園", "zh_tr"),
    ("French guillemets", "fr", KEEP, "«Bonjour», dit-il. Ça va?", "« Bonjour », dit-il. Ça va ?", "fr"),
    ("French spacing already right", "fr", KEEP, "« Bonjour », dit-il. Ça va ?", "« Bonjour », dit-il. Ça va ?", "fr"),
    ("French no-break spaces", "fr", KEEP, "Quoi\u00a0?\u202f! Il est 10:30\u202f; non\u00a0!", "Quoi ?! Il est 10:30 ; non !", "fr"),
    ("French apostrophe", "fr", KEEP, "L’homme qu’on voit", "L'homme qu'on voit", "fr"),
    ("Japanese full stops", "ja", KEEP, "今日は良い天気ですね．散歩に行きましょう，", "今日は良い天気ですね。散歩に行きましょう、", "ja"),
    ("Japanese half-width katakana", "ja", KEEP, "ｺﾝﾆﾁﾊ 世界", "コンニチハ世界", "ja"),
    ("Japanese punctuation kept", "ja", KEEP, "はい、そうです。", "はい、そうです。", "ja"),
    ("Spanish inverted marks", "es", KEEP, "¿ Qué tal ? ¡ Muy bien !", "¿Qué tal? ¡Muy bien!", "es"),
    ("German quotes", "de", KEEP, "Er sagte: „Das ist gut.“", "Er sagte: \"Das ist gut.\"", "de"),
    ("Italian apostrophe", "it", KEEP, "L’uomo è arrivato , finalmente", "L'uomo è arrivato, finalmente", "it"),
    ("Korean spacing", "ko", KEEP, "안녕하세요 , 반갑습니다 .", "안녕하세요, 반갑습니다.", "ko"),
]

# (language, rules, text, reason)
REFUSALS = [
    ("en", GIGASPEECH, "<SIL>", "empty_transcript"),
    ("en", GIGASPEECH, "<MUSIC> <NOISE>", "empty_transcript"),
    ("en", KEEP, "   \u200b ", "empty_transcript"),
    ("en", TEDLIUM_REFUSE, "and so <unk> we started", "unusable_markup"),
    ("en", KEEP, "and so <unk> we started", "unmapped_markup"),
    ("en", GIGASPEECH, "HELLO <LAUGHTER> THERE", "unmapped_markup"),
    ("en", KEEP, "say <|en|> now", "special_token_in_text"),
    ("zh", KEEP, "你好<|endoftext|>", "special_token_in_text"),
]


@pytest.mark.parametrize("style,language,rules,raw,expected,language_after", CASES, ids=[c[0] for c in CASES])
def test_each_corpus_style_gets_its_language_form(style, language, rules, raw, expected, language_after):
    result = normalize_text(raw, language, rules)
    assert (result.reason, result.text, result.language) == (None, expected, language_after)
    assert normalize_text(result.text, result.language, rules).text == expected  # already normal


@pytest.mark.parametrize("language,rules,raw,reason", REFUSALS)
def test_unusable_transcripts_are_refused_with_a_reason(language, rules, raw, reason):
    result = normalize_text(raw, language, rules)
    assert result.reason == reason and result.detail


def test_every_step_is_named_and_explain_shows_what_it_did():
    names = [s.name for s in steps_for("zh", Normalize(markup={"<SIL>": ""}))]
    assert names == [
        "strip_controls", "nfkc", "map_markup", "no_special_tokens", "no_unmapped_markup", "fold_whitespace",
        "chinese_punctuation", "cjk_spacing", "to_simplified", "recheck_markup", "not_empty",
    ]
    assert "to_simplified" not in [s.name for s in steps_for("zh_tr", Normalize())]
    trace = {t.step: t for t in explain("我們 今天, 去 公園", "zh").trace}
    assert trace["chinese_punctuation"].text == "我們 今天， 去 公園" and trace["chinese_punctuation"].changed
    assert trace["cjk_spacing"].text == "我們今天，去公園"
    assert trace["to_simplified"].text == "我们今天，去公园"
    assert not trace["nfkc"].changed and trace["not_empty"].note == "passed"


def test_real_librispeech_transcripts_become_lower_case():
    root = shared_corpus("librispeech", "LibriSpeech")
    rules = load("librispeech").normalize
    lines = [line for path in sorted(root.rglob("*.trans.txt")) for line in path.read_text().splitlines() if line]
    assert len(lines) >= 14
    for line in lines:
        raw = line.split(" ", 1)[1]
        result = normalize_text(raw, "en", rules)
        assert result.ok and result.text == raw.lower() and result.text.islower()


def test_real_aishell_transcripts_lose_their_word_spaces():
    path = shared_corpus("aishell", "data_aishell", "transcript", "aishell_transcript_v0.8.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    for line in lines:
        key, *words = line.split()
        result = normalize_text(" ".join(words), "zh", Normalize())
        assert result.ok and result.text == "".join(words) and " " not in result.text and result.language == "zh"


def test_normalize_section_is_strict():
    with pytest.raises(ValidationError, match="case"):
        Normalize(case="upper")
    with pytest.raises(ValidationError, match="extra"):
        Normalize(markups={"<SIL>": ""})
    with pytest.raises(ValidationError, match="special-token"):
        Normalize(markup={"<LANG>": "<|en|>"})
    with pytest.raises(ValidationError, match="surrounding spaces"):
        Normalize(markup={" <SIL>": ""})


# -- properties ---------------------------------------------------------------------------------

LANGUAGES = st.sampled_from(["en", "de", "es", "fr", "it", "ja", "ko", "zh", "zh_tr"])
RULES = st.sampled_from([KEEP, LOWER, GIGASPEECH, TRAD_TAG, TEDLIUM_DROP, TEDLIUM_REFUSE, Normalize(case="lower_all_caps", chinese="keep")])
PIECES = st.sampled_from([
    " ", "  ", "\t", "\u200b", "\u00a0", "\u3000", ",", ".", "..", "?", "!", ":", ";", "«", "»", "“", "”", "’", "(", ")", "¿",
    "，", "。", "、", "？", "！", "…", "<COMMA>", "<SIL>", "<unk>", "<NOISE>", "<|", "|>", "<|en|>", "<", ">", "|",
    "HELLO", "world", "I'M", "3.5", "10:30", "1,000", "ﬁ", "ｉＰｈｏｎｅ", "Ça", "straße", "İ",
    "我們", "我们", "公園", "今日は", "ｺﾝﾆﾁﾊ", "안녕", "東京",
])
TEXTS = st.one_of(st.lists(PIECES, max_size=12).map("".join), st.text(max_size=40))


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, language=LANGUAGES, rules=RULES)
def test_normalization_is_idempotent_deterministic_and_never_silently_empty(text, language, rules):
    first = normalize_text(text, language, rules)
    assert normalize_text(text, language, rules) == first  # deterministic
    if first.ok:
        assert first.text, "an empty transcript must be refused, not passed on"
        assert first.text == first.text.strip() and "  " not in first.text
        assert token_spellings(first.text) == []
        again = normalize_text(first.text, first.language, rules)
        assert (again.ok, again.text, again.language) == (True, first.text, first.language)
    else:
        assert first.reason in {"empty_transcript", "unusable_markup", "unmapped_markup", "special_token_in_text"}


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, language=LANGUAGES, rules=RULES)
def test_the_stage_never_passes_an_empty_transcript_on(text, language, rules):
    out = normalize_record(_record(text=text, text_language=language), rules)
    if isinstance(out, Record):
        assert out.text and out.text_raw == text and token_spellings(out.text) == []
    else:
        assert out.stage == "normalize" and out.detail.startswith("text.txt:3: text: ")


# -- the stage ----------------------------------------------------------------------------------


def _record(**fields) -> Record:
    base = dict(dataset="toy", split="train", role="train", key="toy-1", audio="a.wav", source="text.txt:3")
    return Record(**{**base, **fields})


def test_the_stage_keeps_the_raw_transcript_beside_the_normalized_one():
    record = _record(text="HE HOPED <COMMA> THERE", text_language="en", captions=("A DOG  BARKS .",), labels={"scene": " bus\u200b "})
    out = normalize_record(record, Normalize(markup={"<COMMA>": ","}, case="lower"))
    assert isinstance(out, Record)
    assert (out.text, out.text_raw) == ("he hoped, there", "HE HOPED <COMMA> THERE")
    assert out.captions == ("a dog barks.",) and out.labels == {"scene": "bus"}
    table = pa.Table.from_pylist([out.to_row()], schema=ARROW_SCHEMA)  # the manifest holds both
    assert Record.from_row(table.to_pylist()[0]) == out


def test_the_stage_refuses_with_the_source_and_tags_traditional_chinese():
    dropped = normalize_record(_record(text="<SIL>", source="GigaSpeech.json:12"), GIGASPEECH)
    assert isinstance(dropped, Drop)
    assert (dropped.stage, dropped.reason, dropped.key) == ("normalize", "empty_transcript", "toy-1")
    assert dropped.detail.startswith("GigaSpeech.json:12: text:")
    caption = normalize_record(_record(captions=("fine", "<|en|>")), KEEP)
    assert isinstance(caption, Drop) and caption.reason == "special_token_in_text" and "captions[1]" in caption.detail

    traditional = normalize_record(_record(text="我們 今天 去 公園", text_language="zh", language="zh", text_form="spoken"), TRAD_TAG)
    assert (traditional.text, traditional.text_language) == ("我們今天去公園", "zh_tr")
    schema = load("librispeech").model_copy(update={"name": "toy"})
    sample = make_tagger({"toy": schema})(Sample(traditional))
    assert sample.views[0].prompt == "<|startoftranscript|><|zh|><|transcribe|><|zh_tr|><|notimestamps|><|wo_itn|>"


def test_translations_get_the_form_of_their_own_language():
    record = _record(text="STUFF IT INTO YOU", text_language="en", translation="«Mange ça», dit-il ?", translation_language="fr")
    out = normalize_record(record, LOWER)
    assert (out.text, out.translation, out.translation_language) == ("stuff it into you", "« mange ça », dit-il ?", "fr")
    chinese = normalize_record(_record(text="hello there", translation="我們 今天 去", translation_language="zh"), KEEP)
    assert (chinese.translation, chinese.translation_language) == ("我们今天去", "zh")
    empty = normalize_record(_record(text="hello", translation="<|en|>", translation_language="de"), KEEP)
    assert isinstance(empty, Drop) and empty.reason == "special_token_in_text" and ": translation: " in empty.detail


def test_text_explain_command_shows_each_step():
    result = audioprep("text", "explain", "而 对 楼市 成交", "--lang", "zh")
    assert "cjk_spacing" in result.stdout and "text (zh): 而对楼市成交" in result.stdout
    assert "langid: zh" in result.stdout
    libri = audioprep("text", "explain", "STUFF IT INTO YOU", "--lang", "en", "--schema", "librispeech")
    assert "lower_case" in libri.stdout and "text (en): stuff it into you" in libri.stdout
    refused = audioprep("text", "explain", "<SIL>", "--lang", "en", check=False)
    assert refused.returncode == 1 and "unmapped_markup" in refused.stdout


def test_records_rebuilt_from_manifest_rows_and_replaced_are_whole_records():
    """``from_row`` and ``replace`` fill a record without its constructor: every field round-trips,
    defaults fill missing columns, and unknown or missing required fields are refused like the
    constructor refuses them."""
    full = _record(text="a b", captions=("c",), labels={"k": "v"}, meta={"m": "1"}, words=(("a", 0.0, 0.5),),
                   spans=((0.0, 1.0),), duration=2.0, offset=1.5, speaker="s1", copy=2, translation="x", translation_language="de")
    table = pa.Table.from_pylist([full.to_row()], schema=ARROW_SCHEMA)
    back = Record.from_row(table.to_pylist()[0])
    assert back == full and back.to_row() == full.to_row() and hash(back.key) == hash(full.key)
    assert Record.from_row({"dataset": "d", "split": "s", "role": "train", "key": "k", "audio": "a"}) == Record("d", "s", "train", "k", "a")
    with pytest.raises(TypeError, match="needs audio"):
        Record.from_row({"dataset": "d", "split": "s", "role": "train", "key": "k"})
    with pytest.raises(TypeError, match="no field 'colour'"):
        Record.from_row({**full.to_row(), "colour": "red"})
    renamed = full.replace(key="toy-1-r1", copy=1)
    assert (renamed.key, renamed.copy, renamed.text, full.key) == ("toy-1-r1", 1, "a b", "toy-1")
    with pytest.raises(TypeError, match="no field 'colour'"):
        full.replace(colour="red")
    with pytest.raises(dataclasses.FrozenInstanceError):
        renamed.key = "other"  # still frozen


def test_the_manifest_table_built_by_columns_is_the_table_of_the_rows():
    """``records_table`` (``columns_table`` over ``record_columns``: how ingest writes the manifest)
    gives exactly the table of ``to_row``'s rows: maps in key order whatever order they were filled in, tuples as lists and structs, nulls kept."""
    records = [
        _record(),
        _record(text="a b", captions=("c", "d"), labels={"z": "1", "a": "2"}, meta={"m": "1"}, words=(("a", 0.0, 0.5), ("b", 0.5, 1.0)),
                spans=((0.0, 1.0),), duration=2.0, offset=1.5, channel=1, speaker="s1", copy=2, translation="x", translation_language="de"),
    ]
    table = records_table(records)
    assert table.equals(pa.Table.from_pylist([r.to_row() for r in records], schema=ARROW_SCHEMA))
    assert table.column("labels").to_pylist()[1] == [("a", "2"), ("z", "1")]
    assert [Record.from_row(row) for row in table.to_pylist()] == records
    assert records_table([]).num_rows == 0


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_the_fast_paths_of_the_spacing_and_quote_steps_change_nothing(text):
    """``latin_spacing`` and ``straight_quotes`` skip texts they cannot change; the result is the full rule's."""
    full_spacing = punctuation._LATIN_AFTER.sub(r"\1", punctuation._LATIN_BEFORE.sub(r"\1", text))
    assert punctuation.latin_spacing(text) == full_spacing
    assert basic.straight_quotes(text) == text.translate(basic._QUOTES)
