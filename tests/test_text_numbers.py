"""normalize.numbers: spoken spells standalone numbers out, per language; the default keeps digits."""
import json

import pytest

from pipelines.ingest.text import explain
from schemas.loader import SchemaError, load, parse
from schemas.text import Normalize

SPOKEN = Normalize(numbers="spoken")


@pytest.mark.parametrize(
    "lang, raw, spoken",
    [
        ("en", "He paid 25 dollars for 1,000 apples in 1990", "He paid twenty five dollars for one thousand apples in one thousand nine hundred and ninety"),
        ("en", "about 2.5 kilos, not 3", "about two point five kilos, not three"),
        ("en", "an mp3 of COVID19 at 4pm", "an mp3 of COVID19 at 4pm"),  # only standalone numbers
        ("de", "Es kostet 2,5 Euro und 1.000 Cent", "Es kostet zwei Komma fünf Euro und eintausend Cent"),
        ("fr", "Il a 21 ans", "Il a vingt et un ans"),
        ("es", "Tengo 3 gatos", "Tengo tres gatos"),
        ("it", "Sono 7 giorni", "Sono sette giorni"),
        ("ja", "りんごが3個あります。", "りんごが三個あります。"),
        ("zh", "我有3个苹果和2.5公斤米", "我有三个苹果和二点五公斤米"),
    ],
)
def test_numbers_spelled_out_per_language(lang, raw, spoken):
    result = explain(raw, lang, SPOKEN)
    assert result.ok and result.text == spoken
    assert explain(result.text, lang, SPOKEN).text == result.text  # idempotent
    assert "spell_numbers" in [step.step for step in result.trace]


def test_numbers_are_kept_unless_the_schema_asks():
    assert explain("He paid 25 dollars in 1990", "en", Normalize()).text == "He paid 25 dollars in 1990"


def test_spelling_numbers_needs_the_spoken_form(tmp_path):
    data = json.loads(load("common_voice").model_dump_json(by_alias=True))
    data["normalize"]["numbers"] = "spoken"
    with pytest.raises(SchemaError, match="declare `text_form: spoken`"):
        parse(json.dumps(data), tmp_path / "x.yaml")
