import pytest

from tag_builder.vocabulary import (
    UnknownTokenError,
    check_token,
    special_tokens,
    split_tokens,
    time_token,
    token_id,
)


def test_audio_token_id_matches_released_config():
    # config.json of Qwen-Audio: audio_start_id = 155163
    assert token_id("<audio>") == 155163
    assert token_id("</audio>") == 155164
    assert token_id("<|endoftext|>") == 151643


def test_vocabulary_has_every_family_once():
    tokens = special_tokens()
    assert len(tokens) == len(set(tokens))
    assert sum(t.startswith("<|extra_") for t in tokens) == 205
    assert sum(t.startswith("<|midi_pitch_") for t in tokens) == 128
    assert sum(t.startswith("<|midi_velocity_") for t in tokens) == 128
    times = [t for t in tokens if t[2:3].isdigit()]
    assert len(times) == 3001 and times[0] == "<|0.00|>" and times[-1] == "<|30.00|>"
    assert "<|startoftranscripts|>" not in tokens and "<|startoftranscription|>" not in tokens


@pytest.mark.parametrize("seconds, token", [(0, "<|0.00|>"), (1.234, "<|1.23|>"), (29.996, "<|30.00|>"), (7.1, "<|7.10|>")])
def test_time_tokens(seconds, token):
    assert time_token(seconds) == token


def test_time_beyond_thirty_seconds_is_not_a_token():
    with pytest.raises(UnknownTokenError):
        time_token(30.01)


def test_unknown_spellings_are_refused():
    with pytest.raises(UnknownTokenError, match="startoftranscripts"):
        check_token("<|startoftranscripts|>")
    with pytest.raises(UnknownTokenError):
        split_tokens("<|startoftranscript|>hello<|en|>")
    assert split_tokens("<|startoftranscript|><|en|>") == ["<|startoftranscript|>", "<|en|>"]
