import json

import pytest

from pipelines.ingest.examples import run_example
from schemas.loader import SchemaError, builtin_names, load, parse

from conftest import audioprep


def test_builtin_schemas_load_and_their_examples_hold():
    names = builtin_names()
    assert {"librispeech", "clotho", "cochlscene"} <= set(names)
    for name in names:
        schema = load(name)
        assert schema.name == name
        assert schema.examples, f"{name} has no worked example"
        for example in schema.examples:
            assert run_example(schema, example) == []


BAD = """\
name: bad
description: a schema with mistakes
license: x
language: xx
splits: {a: train}
layout:
  kind: lines
  files: "{a}.txt"
  line: '(?P<id>\\S+)'
  encodng: utf-8
record:
  key: "{id}"
  audio: "{id}.wav"
tasks:
  - task: asrr
"""


def test_errors_name_field_line_and_allowed_values(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(SchemaError) as error:
        load(str(path))
    message = str(error.value)
    assert str(path) in message
    assert "line 4: language: 'xx' is not allowed; expected 'en'" in message
    assert "line 10: layout.encodng: unknown field (a typo?)" in message
    assert "line 15: tasks.0.task: 'asrr' is not allowed" in message and "'caption_clotho'" in message


def test_missing_field_and_wrong_type(tmp_path):
    text = load("cochlscene").model_dump_json()
    data = json.loads(text)
    del data["license"]
    data["splits"] = "Train"
    with pytest.raises(SchemaError) as error:
        parse(json.dumps(data), tmp_path / "x.yaml")
    assert "license: Field required" in str(error.value)
    assert "splits" in str(error.value)


def test_speech_task_needs_text_form(tmp_path):
    data = json.loads(load("librispeech").model_dump_json())
    data["text_form"] = None
    with pytest.raises(SchemaError, match="text_form: spoken"):
        parse(json.dumps(data), tmp_path / "x.yaml")


def test_bad_placeholder_is_refused(tmp_path):
    data = json.loads(load("librispeech").model_dump_json())
    data["record"]["audio"] = "{dir}/{id!r}.flac"
    with pytest.raises(SchemaError, match="placeholder"):
        parse(json.dumps(data), tmp_path / "x.yaml")


def test_cli_validate_and_jsonschema(tmp_path):
    ok = audioprep("schema", "validate", "librispeech", "clotho", "cochlscene")
    assert ok.stderr.count("example(s) hold") == 3
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    bad = audioprep("schema", "validate", str(path), check=False)
    assert bad.returncode == 1 and "line 10" in bad.stderr
    schema = json.loads(audioprep("schema", "jsonschema").stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"name", "layout", "record", "tasks", "splits", "license"}
