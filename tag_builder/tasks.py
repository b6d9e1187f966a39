"""The task registry: every task audioprep can emit, with the exact shape of its tag sequence.

A task's prompt is ``T A K L S I`` (spec section 1): transcription tag, audio language, task token,
text language, timestamp token, instruction tokens. Each entry fixes everything except the two
languages (taken from the record) and, for speech recognition, the text-form token
(``<|wo_itn|>`` spoken form / ``<|itn|>`` written form, declared by the dataset schema).
Adding a task is adding an entry here; docs/tasks.md is checked against this table by a test.

Two shapes beyond the bare one:

* **fields** (note analysis, spoken language understanding, speaker metadata): the target is built
  from several record labels, each after its own field token (``<|pitch|><|midi_pitch_60|>``) or
  text prefix (``gender: ``). Those field tokens, and only those, may appear in that task's target;
  a label value that spells any token is still refused.
* **question** (audio QA): ``{T}{L}<|question|>{question}<|answer|>`` (spec section 1); the question
  text sits inside the prompt, the single language slot carries the language of question and answer
  (the published ClothoAQA prompt has ``<|en|>`` for sound clips).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tag_builder.vocabulary import check_token

TextForm = Literal["spoken", "written"]
EmptyField = Literal["refuse", "omit", "keep"]
TEXT_FORM_TOKENS: dict[str, str] = {"spoken": "<|wo_itn|>", "written": "<|itn|>"}


@dataclass(frozen=True)
class TargetField:
    """One field of a composed target: ``{token}{prefix}{value}`` where value is a record label.

    ``value_token`` spells an integer value as a vocabulary token (``<|midi_pitch_{}|>``: the label must
    be an integer whose token exists). ``empty`` says what an empty label does: ``refuse`` (the view is
    dropped: missing_target), ``omit`` (the field is left out), ``keep`` (the token stays, no value).
    """

    source: str  # labels.<name>
    token: str = ""  # field token before the value, e.g. <|pitch|>
    prefix: str = ""  # text before the value, e.g. "gender: "
    value_token: str | None = None  # e.g. "<|midi_pitch_{}|>"
    empty: EmptyField = "refuse"

    def __post_init__(self) -> None:
        if self.token:
            check_token(self.token)
        if self.value_token is not None:
            check_token(self.value_token.format(0))


_TRANSCRIPT = "<|startoftranscript|>"
_ANALYSIS = "<|startofanalysis|>"


@dataclass(frozen=True)
class Task:
    """One entry of the registry; the defaults are the common shape (an analysis task on non-speech
    audio with no instruction token), so an entry spells only what sets it apart."""

    name: str
    description: str
    task_token: str
    source: str  # default record field holding the target: text, translation, captions or labels.<name>
    example_target: str
    transcription: str = _ANALYSIS  # <|startoftranscript|> or <|startofanalysis|>
    speech: bool = False  # audio language is the spoken language (else <|unknown|>)
    instructions: tuple[str, ...] = ()
    text_form: bool = False  # append <|itn|>/<|wo_itn|> from the schema's text form
    target_language: str = "text_language"  # record field with the language of the target (slot L)
    fields: tuple[TargetField, ...] = ()  # a composed target (source "fields"), in this order
    separator: str = ""  # between composed fields
    question: str | None = None  # record field with the question: the QA prompt shape
    target_format: str = ""  # the target's format, for people (docs/tasks.md)
    timestamps: bool = False  # <|timestamps|> in slot S: the target holds time tokens and <|sil|> (SRWT)

    def __post_init__(self) -> None:
        for token in (self.transcription, self.task_token, *self.instructions):
            if token:
                check_token(token)
        if bool(self.fields) != (self.source == "fields"):
            raise ValueError(f"task {self.name}: source 'fields' and a fields tuple go together")

    def target_tokens(self) -> frozenset[str]:
        """The special tokens this task's target may hold: its field tokens and their value tokens."""
        from tag_builder.vocabulary import special_tokens

        allowed = {f.token for f in self.fields if f.token}
        for field in self.fields:
            if field.value_token is not None:
                head, _, tail = field.value_token.partition("{}")
                allowed.update(t for t in special_tokens() if t.startswith(head) and t.endswith(tail) and t[len(head) : len(t) - len(tail)].isdigit())
        if self.timestamps:  # SRWT: exactly the time tokens and <|sil|>
            allowed.update(t for t in special_tokens() if t == "<|sil|>" or _TIME_TOKEN.fullmatch(t))
        return frozenset(allowed)


_TIME_TOKEN = re.compile(r"<\|\d+\.\d\d\|>")

REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="asr",
            description="Speech recognition: the transcript in the corpus's own text form.",
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|transcribe|>",
            text_form=True,
            source="text",
            example_target="he hoped there would be stew for dinner",
            target_format="the transcript, normalized (docs/text.md), in the corpus's text form",
        ),
        Task(
            name="s2tt",
            description=(
                "Speech translation (CoVoST 2 style): the translation of the speech; the audio language is the "
                "spoken one, the text language the translation's, written form (<|itn|>) as in the published prompt."
            ),
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|translate|>",
            instructions=("<|itn|>",),
            source="translation",
            example_target="Good morning, everyone.",
            target_format="the translation, normalized, in written form",
            target_language="translation_language",
        ),
        Task(
            name="asr_overlap",
            description=(
                "Overlapped-speech recognition (LibriMix style): every speaker's transcript in one target, joined "
                "by the schema's joiner (default one space); the prompt is the ASR prompt of the text form."
            ),
            transcription=_TRANSCRIPT,
            speech=True,
            task_token="<|transcribe|>",
            text_form=True,
            source="text",
            example_target="he hoped there would be stew for dinner stuff it into you his belly counselled him",
            target_format="every source's transcript in source order, joined by the schema's joiner",
        ),
        Task(
            name="caption_clotho",
            description="Audio captioning in Clotho's style: one sentence describing the sound.",
            task_token="<|caption|>",
            instructions=("<|caption_clotho|>",),
            source="captions",
            example_target="A person is flipping several pages in a book",
            target_format="one caption sentence, as the corpus wrote it (one view per caption)",
        ),
        Task(
            name="scene",
            description="Acoustic scene classification: the bare scene label.",
            task_token="<|keyword|>",
            instructions=("<|scene|>",),
            source="labels.scene",
            example_target="bus",
            target_format="one scene label, lower case with spaces (CochlScene's 13, TUT 2017's 15)",
        ),
        Task(
            name="emotion",
            description="Speech emotion recognition (MELD, IEMOCAP, CREMA-D, RAVDESS): the bare emotion label.",
            speech=True,
            task_token="<|keyword|>",
            instructions=("<|emotion_recognition|>",),
            source="labels.emotion",
            example_target="joy",
            target_format="one label of: neutral, calm, joy, sadness, anger, fear, disgust, surprise, excitement, frustration",
        ),
        Task(
            name="speaker_meta",
            description="Speaker traits heard in the voice: gender, and age where the corpus gives it.",
            speech=True,
            task_token="<|keyword|>",
            instructions=("<|speaker_meta|>",),
            source="fields",
            fields=(
                TargetField("labels.gender", prefix="gender: "),
                TargetField("labels.age", prefix="age: ", empty="omit"),
            ),
            separator=", ",
            example_target="gender: female, age: 51",
            target_format="`gender: {female|male}`, then `, age: {years}` where the corpus gives the age",
        ),
        Task(
            name="vocal_sound",
            description="Vocal sound classification (VocalSound): the bare label of a non-speech vocal sound.",
            speech=True,
            task_token="<|keyword|>",
            instructions=("<|vocal_classification|>",),
            source="labels.vocal_sound",
            example_target="throat clearing",
            target_format="one label of: laughter, sigh, cough, throat clearing, sneeze, sniff",
        ),
        Task(
            name="keyword_spotting",
            description=(
                "Keyword spotting (Speech Commands): the one command word spoken. The vocabulary has no keyword "
                "instruction token, so the prompt ends at <|notimestamps|>; it differs from language_id by the audio language."
            ),
            speech=True,
            task_token="<|keyword|>",
            source="labels.keyword",
            example_target="yes",
            target_format="the command word, lower case, as the corpus's folder names it",
        ),
        Task(
            name="slu",
            description=(
                "Spoken language understanding (SLURP, Fluent Speech Commands): scenario, action and entities of "
                "the spoken command, each after its token; a corpus without scenarios leaves that field out."
            ),
            speech=True,
            task_token="<|keyword|>",
            instructions=("<|speech_understanding|>",),
            source="fields",
            fields=(
                TargetField("labels.scenario", token="<|scenario|>", empty="omit"),
                TargetField("labels.action", token="<|action|>"),
                TargetField("labels.entities", token="<|entities|>", empty="keep"),
            ),
            example_target="<|scenario|>alarm<|action|>set<|entities|>time: five am, date: this week",
            target_format=(
                "`<|scenario|>{scenario}` (left out when the corpus has none), `<|action|>{action}`, "
                "`<|entities|>{type: value, ...}` (nothing after the token when there is none)"
            ),
        ),
        Task(
            name="language_id",
            description=(
                "Spoken language identification (VoxLingua107): the English name of the language. The audio-language "
                "slot is <|unknown|> for every clip, so the prompt never holds the answer."
            ),
            task_token="<|keyword|>",
            source="labels.language",
            example_target="German",
            target_format="the language's English name (VoxLingua107's 107 languages), e.g. German, Swahili",
        ),
        Task(
            name="caption_audiocaps",
            description="Audio captioning in AudioCaps's style: one short sentence describing the sound.",
            task_token="<|caption|>",
            instructions=("<|caption_audiocaps|>",),
            source="captions",
            example_target="A man speaks as birds chirp and a dog barks",
            target_format="one caption sentence, as the corpus wrote it",
        ),
        Task(
            name="caption_audioset",
            description="Captioning in AudioSet-ontology style: the clip's AudioSet classes by display name.",
            task_token="<|caption|>",
            instructions=("<|audioset_ontology|>",),
            source="labels.events",
            example_target="Speech; Dog; Bark",
            target_format="AudioSet display names joined by `; ` (names may hold commas)",
        ),
        Task(
            name="sound_event",
            description="Sound event classification (AudioSet, FSD50K, ESC-50): every event label of the clip.",
            task_token="<|keyword|>",
            instructions=("<|event|>",),
            source="labels.events",
            example_target="Speech; Dog; Bark",
            target_format="event labels joined by `; ` (AudioSet display names; FSD50K and ESC-50 names with spaces for underscores)",
        ),
        Task(
            name="aqa",
            description="Audio question answering (Clotho-AQA): the answer to a question about the clip.",
            task_token="<|question|>",
            source="labels.answer",
            question="labels.question",
            example_target="yes",
            target_format="the answer as the annotator wrote it (often yes / no, or one word)",
        ),
        Task(
            name="note_analysis",
            description="Musical note analysis (NSynth): pitch and velocity as MIDI tokens, instrument family, sonic qualities.",
            task_token="<|keyword|>",
            instructions=("<|note_analysis|>",),
            source="fields",
            fields=(
                TargetField("labels.pitch", token="<|pitch|>", value_token="<|midi_pitch_{}|>"),
                TargetField("labels.velocity", token="<|velocity|>", value_token="<|midi_velocity_{}|>"),
                TargetField("labels.instrument", token="<|instrument|>"),
                TargetField("labels.qualities", token="<|sonic|>", empty="keep"),
            ),
            example_target="<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>keyboard<|sonic|>bright, percussive",
            target_format=(
                "`<|pitch|><|midi_pitch_N|><|velocity|><|midi_velocity_N|><|instrument|>{family}<|sonic|>{qualities joined by \", \"}` "
                "(nothing after <|sonic|> when the note has no quality)"
            ),
        ),
        Task(
            name="instrument",
            description="Instrument classification (NSynth): the instrument family of the note.",
            task_token="<|keyword|>",
            instructions=("<|instrument|>",),
            source="labels.instrument",
            example_target="keyboard",
            target_format="one family of: bass, brass, flute, guitar, keyboard, mallet, organ, reed, string, synth lead, vocal",
        ),
        Task(
            name="music_genre",
            description=(
                "Music genre classification (GTZAN, FMA): the genre, asked with <|song_meta|> (song metadata: the "
                "vocabulary has no genre token)."
            ),
            task_token="<|keyword|>",
            instructions=("<|song_meta|>",),
            source="labels.genre",
            example_target="hip hop",
            target_format="one genre, lower case (GTZAN's ten, FMA's sixteen top genres)",
        ),
        Task(
            name="music_caption",
            description="Music captioning (MusicCaps): a description of the music by a musician.",
            task_token="<|caption|>",
            instructions=("<|music_description|>",),
            source="captions",
            example_target="A low quality recording of a mellow piano melody with soft strings.",
            target_format="the corpus's caption, several sentences",
        ),
    )
}
REGISTRY["srwt"] = Task(  # turned on per corpus by the run (--srwt), not bound in schemas: docs/long-form.md
    name="srwt",
    description=(
        "Speech recognition with word-level timestamps (SRWT): the transcript's units (words; characters in "
        "Chinese) between time tokens relative to the window start, pauses as <|sil|> units."
    ),
    transcription=_TRANSCRIPT,
    speech=True,
    task_token="<|transcribe|>",
    source="text",
    example_target="<|0.00|>he<|0.31|>hoped<|0.78|><|sil|><|1.20|>there<|1.42|>",
    target_format="`<|t0|>w1<|t1|>w2...<|tN|>`, 0.01 s steps within 0.00-30.00, `<|sil|>` for pauses over the threshold",
    timestamps=True,
)


class UnknownTaskError(KeyError):
    pass


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(REGISTRY))}"
        ) from None
