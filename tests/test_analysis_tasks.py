"""The analysis tasks of issue 4: exact tag sequences, the two registered exceptions to "tokens only"
(a question inside a QA prompt, field tokens inside a fields target), and docs/tasks.md generated
from the registry and the schemas (``python tests/test_analysis_tasks.py`` rewrites it)."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from schemas.loader import builtin_names, load
from tag_builder.tasks import REGISTRY, get_task
from tag_builder.views import TagError, build_view, check_view, compose_target, tag_sequence
from tag_builder.vocabulary import UnknownTokenError

DOC = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"

PUBLISHED = [  # (task, audio language, question, tag sequence of spec section 4, byte for byte)
    ("emotion", "en", None, "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>"),
    ("vocal_sound", "en", None, "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>"),
    ("aqa", None, "Is it raining?", "<|startofanalysis|><|en|><|question|>Is it raining?<|answer|>"),
    ("note_analysis", None, None, "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>"),
    ("caption_clotho", None, None, "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>"),
    ("scene", None, None, "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"),
]


@pytest.mark.parametrize("task, audio_language, question, expected", PUBLISHED)
def test_published_evaluation_prompts_byte_for_byte(task, audio_language, question, expected):
    view = build_view(get_task(task), get_task(task).example_target, audio_language=audio_language,
                      text_language="en", text_form=None, question=question)
    assert view.prompt == expected


def test_sound_and_music_tasks_say_unknown_even_for_a_record_with_a_spoken_language():
    for name in ("language_id", "sound_event", "caption_audioset", "caption_audiocaps", "instrument", "music_genre", "music_caption"):
        assert build_view(get_task(name), "x", audio_language="de", text_language="en", text_form=None).prompt.startswith(
            "<|startofanalysis|><|unknown|>"), name


def test_no_two_tasks_share_a_tag_sequence_except_asr_and_overlapped_asr():
    prompts = {}
    for task in REGISTRY.values():
        question = "q?" if task.question else None
        prompts[task.name] = build_view(task, task.example_target, audio_language="en", text_language="en",
                                        text_form="spoken", question=question).prompt
    shared = sorted(tuple(sorted((a, b))) for a, b in itertools.combinations(prompts, 2) if prompts[a] == prompts[b])
    assert shared == [("asr", "asr_overlap")]


NOTE = get_task("note_analysis")
LABELS = {"pitch": "60", "velocity": "100", "instrument": "keyboard", "qualities": "bright, percussive"}


def test_note_analysis_target_holds_exactly_its_field_tokens():
    target = compose_target(NOTE, LABELS)
    assert target == "<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>keyboard<|sonic|>bright, percussive"
    assert build_view(NOTE, target, audio_language=None, text_language="en", text_form=None).target == target
    assert compose_target(NOTE, {**LABELS, "qualities": ""}).endswith("<|instrument|>keyboard<|sonic|>")  # kept, empty


@pytest.mark.parametrize("labels, reason", [
    ({**LABELS, "pitch": "128"}, "bad_field_value"),  # no <|midi_pitch_128|>
    ({**LABELS, "velocity": "1e2"}, "bad_field_value"),
    ({**LABELS, "instrument": "keyboard<|en|>"}, "special_token_in_text"),  # a label may not spell a token...
    ({**LABELS, "instrument": "<|pitch|>"}, "special_token_in_text"),  # ...not even one of the task's own
    ({**LABELS, "pitch": ""}, "missing_target"),
])
def test_note_analysis_field_values_are_checked(labels, reason):
    with pytest.raises(TagError) as error:
        compose_target(NOTE, labels)
    assert error.value.reason == reason


@pytest.mark.parametrize("target", [
    "<|pitch|><|midi_pitch_60|><|en|>",  # a token of the vocabulary, but not a field token of this task
    "<|pitch|><|midi_pitch_60|><|scenario|>x",  # another task's field token
    "<|pitch|><|midi_pitch_060|>",  # not a token at all
])
def test_a_fields_target_refuses_any_other_token_spelling(target):
    with pytest.raises(TagError) as error:
        build_view(NOTE, target, audio_language=None, text_language="en", text_form=None)
    assert error.value.reason == "special_token_in_text"
    with pytest.raises(UnknownTokenError):
        check_view("note_analysis", NOTE_PROMPT, target)
    with pytest.raises(TagError):  # and a bare-label task allows no token at all
        build_view(get_task("instrument"), "<|pitch|>", audio_language=None, text_language="en", text_form=None)


NOTE_PROMPT = PUBLISHED[3][3]
AQA_PROMPT = "<|startofanalysis|><|en|><|question|>Is it raining?<|answer|>"


def test_slu_and_speaker_traits_leave_out_or_keep_empty_fields_as_registered():
    slu, meta = get_task("slu"), get_task("speaker_meta")
    assert compose_target(slu, {"action": "increase", "entities": "object: volume"}) == "<|action|>increase<|entities|>object: volume"
    assert compose_target(slu, {"scenario": "alarm", "action": "query", "entities": ""}) == "<|scenario|>alarm<|action|>query<|entities|>"
    assert compose_target(meta, {"gender": "female", "age": "29"}) == "gender: female, age: 29"
    assert compose_target(meta, {"gender": "male"}) == "gender: male"


@pytest.mark.parametrize("prompt", [
    AQA_PROMPT,
    "<|startofanalysis|><|en|><|question|>What is <|en|>?<|answer|>",
])
def test_question_prompts_are_checked_by_shape(prompt):
    if "<|en|>?" in prompt:
        with pytest.raises(UnknownTokenError):
            check_view("aqa", prompt, "yes")
    else:
        check_view("aqa", prompt, "yes")


@pytest.mark.parametrize("task, prompt", [
    ("aqa", "<|startofanalysis|><|en|><|question|><|answer|>"),  # no question
    ("aqa", "<|startofanalysis|><|en|><|question|>Is it?<|answer|>yes"),  # text after <|answer|>
    ("aqa", "hello<|startofanalysis|><|en|><|question|>Is it?<|answer|>"),  # text before the tags
    ("aqa", "<|startofanalysis|><|en|><|questions|>Is it?<|answer|>"),  # a misspelt token
    ("scene", "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|>bus<|scene|>"),  # text in a tags-only prompt
])
def test_anything_but_the_registered_prompt_shape_is_refused(task, prompt):
    with pytest.raises(UnknownTokenError):
        check_view(task, prompt, "yes")


def test_question_text_is_refused_in_the_builder_too():
    task = get_task("aqa")
    for question, reason in (("", "missing_question"), ("say <|en|>", "special_token_in_text")):
        with pytest.raises(TagError) as error:
            build_view(task, "yes", audio_language=None, text_language="en", text_form=None, question=question)
        assert error.value.reason == reason


def test_a_question_prompt_counts_under_its_tags_alone():
    assert tag_sequence(AQA_PROMPT) == "<|startofanalysis|><|en|><|question|><|answer|>"
    assert tag_sequence(NOTE_PROMPT) == NOTE_PROMPT


# --- docs/tasks.md ------------------------------------------------------------------------------

def _prompt(task) -> str:
    question = "{question}" if task.question else None
    if question:
        return f"{task.transcription}<|en|>{task.task_token}{{question}}<|answer|>"
    return build_view(task, task.example_target, audio_language="en", text_language="en", text_form="spoken").prompt


def render_tasks_doc() -> str:
    feeding: dict[str, list[str]] = {name: [] for name in REGISTRY}
    for name in builtin_names():
        for binding in load(name).tasks:
            feeding[binding.task].append(f"`{name}`")
    out = [
        "# Tasks",
        "",
        "Every task of `tag_builder/tasks.py`: its tag sequence, the format of its target, an example and",
        "the built-in corpora feeding it. Generated from the registry and `schemas/` by",
        "`python tests/test_analysis_tasks.py`; `tests/test_analysis_tasks.py` fails when this file differs.",
        "",
        "Tag sequences are shown for English (`<|en|>`): a speech task puts the spoken language in the",
        "audio-language slot, a sound or music task `<|unknown|>` (spec section 4); the text-language",
        "slot is the target's language. ASR ends with `<|wo_itn|>` (spoken form) or `<|itn|>` (written",
        "form) as the corpus's schema declares. The training text of a view is",
        "`<audio>{key}.flac</audio>` + tag sequence + target + `<|endoftext|>`.",
        "",
        "Two shapes go beyond tags-then-text, each checked by `tag_builder.views.check_view` (also when",
        "`audioprep verify` reads a shard back): a **question** task carries its question inside the",
        "prompt, `{T}{L}<|question|>{question}<|answer|>`, and nothing but the question may sit outside",
        "the tokens; a **fields** task builds its target from several labels, each after its own field",
        "token, and its target may hold exactly those field tokens, never another token spelling (a label",
        "value that spells one is refused: `special_token_in_text`).",
        "",
        "| task | tag sequence | target format | example target | corpora |",
        "|---|---|---|---|---|",
    ]
    for task in REGISTRY.values():
        cells = [f"`{task.name}`", f"`{_prompt(task)}`", task.target_format, f"`{task.example_target}`", ", ".join(feeding[task.name]) or "-"]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")  # GFM: a pipe in a cell is \\|
    out += ["", "## What each task is", ""]
    for task in REGISTRY.values():
        out.append(f"* `{task.name}`: {task.description}")
    return "\n".join(out) + "\n"


def test_docs_tasks_md_is_generated_from_the_registry_and_schemas():
    assert DOC.read_text(encoding="utf-8") == render_tasks_doc(), "docs/tasks.md is stale: run python tests/test_analysis_tasks.py"


def test_every_task_documents_a_format_and_every_analysis_task_has_a_corpus():
    doc = render_tasks_doc()
    for task in REGISTRY.values():
        assert task.target_format and task.example_target, task.name
    fed = {b.task for name in builtin_names() for b in load(name).tasks}
    assert {"emotion", "speaker_meta", "vocal_sound", "keyword_spotting", "slu", "language_id", "caption_audiocaps",
            "caption_audioset", "aqa", "sound_event", "scene", "note_analysis", "instrument", "music_genre", "music_caption"} <= fed
    assert "`nsynth`" in doc


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    DOC.write_text(render_tasks_doc(), encoding="utf-8")
    print(f"wrote {DOC}")
