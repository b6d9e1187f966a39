"""Tag sequences byte for byte as in section 4 of ../shared/spec/qwen-audio-format.md."""
import pytest

from tag_builder.tasks import REGISTRY, UnknownTaskError, get_task
from tag_builder.views import TagError, build_view

SPEC = {
    "asr_en": "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>",
    "asr_zh": "<|startoftranscript|><|zh|><|transcribe|><|zh|><|notimestamps|><|wo_itn|>",
    "clotho": "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>",
    "scene": "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>",
}


def test_asr_prompt_matches_spec():
    view = build_view(get_task("asr"), "he hoped", audio_language="en", text_language="en", text_form="spoken")
    assert view.prompt == SPEC["asr_en"] and view.target == "he hoped"
    zh = build_view(get_task("asr"), "而对楼市", audio_language="zh", text_language="zh", text_form="spoken")
    assert zh.prompt == SPEC["asr_zh"]


def test_written_form_is_itn():
    view = build_view(get_task("asr"), "It costs $5.", audio_language="en", text_language="en", text_form="written")
    assert view.prompt.endswith("<|notimestamps|><|itn|>")


def test_clotho_caption_prompt_matches_spec():
    view = build_view(get_task("caption_clotho"), "Birds sing.", audio_language=None, text_language="en", text_form=None)
    assert view.prompt == SPEC["clotho"]


def test_scene_prompt_matches_spec_even_for_speech_corpora():
    view = build_view(get_task("scene"), "bus", audio_language="en", text_language="en", text_form=None)
    assert view.prompt == SPEC["scene"]  # sound tasks always put <|unknown|> in the audio-language slot


def test_language_without_token_is_refused():
    with pytest.raises(TagError) as error:
        build_view(get_task("asr"), "vanakkam", audio_language="ta", text_language="ta", text_form="written")
    assert error.value.reason == "no_language_token" and "'ta'" in error.value.detail


def test_target_spelling_a_special_token_is_refused():
    with pytest.raises(TagError) as error:
        build_view(get_task("asr"), "say <|en|> now", audio_language="en", text_language="en", text_form="spoken")
    assert error.value.reason == "special_token_in_text"


def test_empty_target_is_refused():
    with pytest.raises(TagError) as error:
        build_view(get_task("asr"), "  ", audio_language="en", text_language="en", text_form="spoken")
    assert error.value.reason == "empty_target"


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError, match="asr"):
        get_task("asrr")


def test_every_registered_task_builds_a_valid_prompt():
    for task in REGISTRY.values():
        question = "Is it raining?" if task.question else None
        view = build_view(task, task.example_target, audio_language="en", text_language="en", text_form="spoken", question=question)
        assert view.prompt.startswith(task.transcription)
