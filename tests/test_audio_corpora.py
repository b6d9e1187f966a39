"""The audio-understanding corpora of issue 4, each from a miniature copy in its genuine layout, end to end.

Every test runs the whole pipeline in-process (``engine="local"``) and checks every written sample's
views exactly (task, tag sequence, target), its split, and every quarantined record with its reason.
The tag sequences of the published evaluations are spelled out byte for byte in ``SPEC`` (section 4
of ../shared/spec/qwen-audio-format.md).
"""
from __future__ import annotations
import pytest



from fixtures import audio_corpora as A
from test_speech_corpora import counts, reasons, run, views

from conftest import shared_corpus
from pipelines.report.compute import _tag_sequences
from pipelines.report.load import load_run
from pipelines.finalize.verify import verify

SPEC = {  # section 4 of the spec, byte for byte
    "clotho": "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>",
    "scene": "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>",
    "meld_ser": "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>",
    "vocalsound_vsc": "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>",
    "clotho_aqa": "<|startofanalysis|><|en|><|question|>{question}<|answer|>",
    "nsynth_mna": "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>",
}
SPEECH = "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|>"
SOUND = "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|>"
CAPTION = "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|>"
ASR_WRITTEN = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|itn|>"
SER, META = SPEC["meld_ser"], SPEECH + "<|speaker_meta|>"
SLU = SPEECH + "<|speech_understanding|>"


def test_meld_mp4_clips_emotion_and_asr_from_one_audio(tmp_path):
    root = tmp_path / "MELD.Raw"
    A.write_meld(str(root))
    summary, samples, quarantine = run(tmp_path, "meld", str(root))
    assert views(samples) == {
        "meld-dev-dia0_utt0": [("emotion", SER, "anger"), ("asr", ASR_WRITTEN, "Stop talking about the wedding!")],
        "meld-test-dia0_utt0": [("emotion", SER, "surprise"), ("asr", ASR_WRITTEN, "Why do all you're coffee mugs have numbers on the bottom?")],
        "meld-train-dia0_utt0": [("emotion", SER, "joy"), ("asr", ASR_WRITTEN, "Oh my God, he's lost it.")],  # mojibake repaired
    }
    test = samples["meld-test-dia0_utt0"]
    assert (test["split"], test["role"], test["source"]["audio"]) == ("test", "eval", "output_repeated_splits_test/dia0_utt0.mp4")
    assert abs(test["_frames"] / 16000 - 1.0) < 0.1  # the AAC track of the MP4, whole (with the encoder's priming)
    assert samples["meld-train-dia0_utt0"]["meta"] == {"episode": "5", "season": "2", "sentiment": "positive"}
    assert reasons(quarantine) == [("ingest", "audio_missing", "train_sent_emo.csv:3")]
    assert counts(summary, "meld") == {"input": 4, "written": 3, "quarantined": 1}


def test_iemocap_emotion_lines_transcripts_joined_and_no_agreement_excluded(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    A.write_iemocap(str(root))
    summary, samples, quarantine = run(tmp_path, "iemocap", str(root))
    assert views(samples) == {
        "iemocap-Ses01F_impro01_F000": [("emotion", SER, "neutral"), ("asr", ASR_WRITTEN, "Excuse me.")],
        "iemocap-Ses01F_impro01_F001": [("emotion", SER, "joy"), ("asr", ASR_WRITTEN, "Do you have your forms?")],
        "iemocap-Ses05M_script01_1_F000": [("emotion", SER, "anger"), ("asr", ASR_WRITTEN, "What's he going to say?")],
    }
    assert samples["iemocap-Ses05M_script01_1_F000"]["role"] == "eval"
    assert samples["iemocap-Ses01F_impro01_F000"]["meta"] == {"dialog": "Ses01F_impro01", "vad": "2.5000, 2.5000, 2.5000"}
    # annotator lines, the header and the macOS ._ file are not records and not problems
    assert reasons(quarantine) == [("ingest", "no_agreed_emotion", "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:10")]


def test_crema_d_emotion_and_speaker_traits_from_demographics(tmp_path):
    root = tmp_path / "CREMA-D"
    A.write_crema_d(str(root))
    summary, samples, quarantine = run(tmp_path, "crema_d", str(root))
    assert views(samples) == {
        "crema_d-1001_DFA_ANG_XX": [("emotion", SER, "anger"), ("speaker_meta", META, "gender: male, age: 51")],
        "crema_d-1001_IEO_HAP_HI": [("emotion", SER, "joy"), ("speaker_meta", META, "gender: male, age: 51")],
        "crema_d-1091_TIE_SAD_LO": [("emotion", SER, "sadness"), ("speaker_meta", META, "gender: female, age: 29")],
    }
    assert reasons(quarantine) == [("audio", "empty_file", "AudioWAV/1076_MTI_NEU_XX.wav")]


def test_ravdess_labels_from_file_names_and_gender_from_actor_parity(tmp_path):
    root = tmp_path / "RAVDESS"
    A.write_ravdess(str(root))
    summary, samples, quarantine = run(tmp_path, "ravdess", str(root))
    assert views(samples) == {
        "ravdess-03-01-02-01-02-02-02": [("emotion", SER, "calm"), ("speaker_meta", META, "gender: female")],
        "ravdess-03-01-03-02-01-01-01": [("emotion", SER, "joy"), ("speaker_meta", META, "gender: male")],
        "ravdess-03-02-06-01-01-01-02": [("emotion", SER, "fear"), ("speaker_meta", META, "gender: female")],
    }
    assert samples["ravdess-03-02-06-01-01-01-02"]["meta"] == {"intensity": "01", "vocal_channel": "02"}  # song
    assert quarantine == []


@pytest.mark.parametrize("keyed", [False, True], ids=["meta-list-of-rows", "meta-keyed-by-speaker"])
def test_vocalsound_published_prompt_gender_and_age(tmp_path, keyed):
    root = tmp_path / "vocalsound_16k"
    A.write_vocalsound(str(root), meta_keyed_by_speaker=keyed)
    summary, samples, quarantine = run(tmp_path, "vocalsound", str(root))
    vsc = SPEC["vocalsound_vsc"]
    assert views(samples) == {
        "vocalsound-f0003_0_cough": [("vocal_sound", vsc, "cough"), ("speaker_meta", META, "gender: female, age: 23")],
        "vocalsound-f0004_0_throatclearing": [("vocal_sound", vsc, "throat clearing"), ("speaker_meta", META, "gender: female, age: 57")],
        "vocalsound-m0101_0_laughter": [("vocal_sound", vsc, "laughter"), ("speaker_meta", META, "gender: male")],
    }
    assert samples["vocalsound-f0004_0_throatclearing"]["role"] == "eval"
    assert reasons(quarantine) == [("ingest", "audio_missing", "datafiles/tr.json:data[2]")]


def test_voxceleb1_gender_and_set_from_the_tab_separated_meta(tmp_path):
    root = tmp_path / "VoxCeleb1"
    A.write_voxceleb1(str(root))
    summary, samples, quarantine = run(tmp_path, "voxceleb1", str(root))
    assert views(samples) == {
        "voxceleb1-id10001-1zcIwhmdeo4-00001": [("speaker_meta", META, "gender: male")],
        "voxceleb1-id10270-5r0dWxy17C8-00001": [("speaker_meta", META, "gender: female")],
    }
    assert samples["voxceleb1-id10270-5r0dWxy17C8-00001"]["split"] == "test"
    assert reasons(quarantine) == [("ingest", "join_unmatched", "wav/id99999/aaaaaaaaaaa/00001.wav")]


def test_speech_commands_split_by_list_membership(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    A.write_speech_commands(str(root))
    summary, samples, quarantine = run(tmp_path, "speech_commands", str(root))
    assert views(samples) == {
        "speech_commands-right-bb05582b_nohash_3": [("keyword_spotting", SPEECH, "right")],
        "speech_commands-yes-0a7c2a8d_nohash_0": [("keyword_spotting", SPEECH, "yes")],
        "speech_commands-yes-0a7c2a8d_nohash_1": [("keyword_spotting", SPEECH, "yes")],
    }
    assert {k: s["split"] for k, s in samples.items()} == {
        "speech_commands-right-bb05582b_nohash_3": "testing", "speech_commands-yes-0a7c2a8d_nohash_0": "train",
        "speech_commands-yes-0a7c2a8d_nohash_1": "validation"}
    assert quarantine == [] and counts(summary, "speech_commands")["input"] == 3  # _background_noise_ is not read


def test_fluent_speech_commands_action_and_entities(tmp_path):
    root = tmp_path / "fluent_speech_commands_dataset"
    A.write_fluent_speech_commands(str(root))
    summary, samples, quarantine = run(tmp_path, "fluent_speech_commands", str(root))
    assert views(samples) == {
        "fluent_speech_commands-0a3129c0-4474-11e9-a9a5-5dbec3b8816a": [("slu", SLU, "<|action|>activate<|entities|>object: lights, location: kitchen")],
        "fluent_speech_commands-0ee42a80-4474-11e9-a9a5-5dbec3b8816a": [("slu", SLU, "<|action|>change language<|entities|>object: Chinese")],
        "fluent_speech_commands-1a3129c0-4474-11e9-a9a5-5dbec3b8816a": [("slu", SLU, "<|action|>increase<|entities|>object: volume")],
    }
    assert quarantine == []


def test_slurp_one_record_per_recording_entities_from_the_annotation(tmp_path):
    root = tmp_path / "slurp"
    A.write_slurp(str(root))
    summary, samples, quarantine = run(tmp_path, "slurp", str(root))
    alarm = "<|scenario|>alarm<|action|>set<|entities|>time: five am, date: this week"
    assert views(samples) == {
        "slurp-audio-1434542201-headset": [("slu", SLU, "<|scenario|>datetime<|action|>query<|entities|>")],
        "slurp-audio-1490200086": [("slu", SLU, alarm)],
        "slurp-audio-1490200086-headset": [("slu", SLU, alarm)],
    }
    assert samples["slurp-audio-1434542201-headset"]["role"] == "eval"
    assert samples["slurp-audio-1490200086"]["meta"] == {"intent": "alarm_set", "sentence": "wake me up at five am this week"}
    assert quarantine == []


def test_voxlingua107_language_names_and_audio_language_only_where_a_token_exists(tmp_path):
    root = tmp_path / "voxlingua107"
    A.write_voxlingua107(str(root))
    summary, samples, quarantine = run(tmp_path, "voxlingua107", str(root))
    assert {k: (v, samples[k]["language"]) for k, v in views(samples).items()} == {
        "voxlingua107-de-0B9Wd3RZ9n4__U__S0---0070_870-0084_260-20785c9068": ([("language_id", SOUND, "German")], "de"),
        "voxlingua107-en-0aa3tbqbRzY__U__S0---0002_660-0012_140-2e329c1f6b": ([("language_id", SOUND, "English")], "en"),
        "voxlingua107-sw-zb8Fz0dqRl8__U__S38---0418_500-0427_240-3b0f72d1ec": ([("language_id", SOUND, "Swahili")], None),
    }
    assert quarantine == []


def test_clotho_licence_per_clip_from_the_latin1_metadata(tmp_path):
    root = tmp_path / "clotho"
    A.write_clotho(str(root))
    summary, samples, quarantine = run(tmp_path, "clotho", str(root))
    clotho = SPEC["clotho"]
    assert views(samples)["clotho-Bird_Chirps-1fb730e82d"][0] == ("caption_clotho", clotho, "Birds chirp in the morning.")
    assert {k: (s["license"], s["meta"]) for k, s in samples.items()} == {
        "clotho-Bird_Chirps-1fb730e82d": ("Clotho captions under Tampere University terms; audio under per-clip Freesound CC licences", {}),
        "clotho-Distorted_AM_Radio_noise-dd754e9eb5": ("http://creativecommons.org/licenses/by/3.0/", {"freesound_id": "70159"}),
    }
    assert [len(s["tasks"]) for s in samples.values()] == [5, 5] and quarantine == []


def test_real_clotho_sample_with_no_metadata_file(tmp_path):
    real = shared_corpus("clotho")
    summary, samples, quarantine = run(tmp_path, "clotho", str(real))
    assert len(samples) == 3 and quarantine == []
    flipping = samples["clotho-Flipping_Pages-e6e3350749"]
    assert flipping["tasks"][0] == {"task": "caption_clotho", "prompt": SPEC["clotho"], "target": "A person is flipping several pages in a book"}
    assert flipping["license"] == "Clotho captions under Tampere University terms; audio under per-clip Freesound CC licences"


def test_clotho_aqa_question_in_the_prompt_and_a_token_in_a_question_refused(tmp_path):
    root = tmp_path / "clotho_aqa"
    A.write_clotho_aqa(str(root))
    summary, samples, quarantine = run(tmp_path, "clotho_aqa", str(root))
    aqa = SPEC["clotho_aqa"]
    assert views(samples) == {
        "clotho_aqa-Bird_Chirps-2-0d33355868": [("aqa", aqa.format(question="Are birds singing?"), "yes")],
        "clotho_aqa-Flipping_Pages-2-1b02c9a838": [("aqa", aqa.format(question="Is a book being read?"), "no")],
    }
    assert samples["clotho_aqa-Flipping_Pages-2-1b02c9a838"]["role"] == "eval"
    # read back: verify accepts the question inside the prompt; statistics count the tags alone
    assert verify(str(tmp_path / "out")).problems == []
    assert _tag_sequences(load_run(str(tmp_path / "out"))) == [
        {"prompt": "<|startofanalysis|><|en|><|question|><|answer|>", "tasks": ["aqa"], "views": 2, "tokens": 4, "in_vocabulary": True, "problem": None}]
    # a second annotator's identical answer is the same example: kept once
    assert reasons(quarantine) == [("plan", "duplicate_example", "clotho_aqa_train.csv:3"),
                                   ("tag", "special_token_in_text", "clotho_aqa_train.csv:4")]


def test_audiocaps_ten_seconds_cut_from_whole_videos(tmp_path):
    root = tmp_path / "audiocaps"
    A.write_audiocaps(str(root))
    summary, samples, quarantine = run(tmp_path, "audiocaps", str(root))
    prompt = CAPTION + "<|caption_audiocaps|>"
    assert views(samples) == {
        "audiocaps-103548": [("caption_audiocaps", prompt, "A train rattles by")],
        "audiocaps-103549": [("caption_audiocaps", prompt, "Constant rattling noise and sharp vibrations")],
        "audiocaps-91139": [("caption_audiocaps", prompt, "A woman talks nearby as water pours")],
    }
    clip = samples["audiocaps-103549"]
    assert (clip["source"]["offset"], clip["source"]["duration"], clip["_frames"]) == (2.0, 10.0, 160000)
    assert reasons(quarantine) == [("ingest", "audio_missing", "train.csv:3"), ("ingest", "audio_without_metadata", "audio/zzzzzzzzzzz.wav")]


def test_audioset_quoted_label_lists_through_the_ontology(tmp_path):
    root = tmp_path / "audioset"
    A.write_audioset(str(root))
    summary, samples, quarantine = run(tmp_path, "audioset", str(root))
    ontology = CAPTION + "<|audioset_ontology|>"
    speech = "Speech; Male speech, man speaking"
    assert views(samples) == {
        "audioset---PJHxphWEs": [("sound_event", SOUND + "<|event|>", speech), ("caption_audioset", ontology, speech)],
        "audioset--0SdAVK79lg": [("sound_event", SOUND + "<|event|>", "Dog; Bark"), ("caption_audioset", ontology, "Dog; Bark")],
    }
    m4a = samples["audioset---PJHxphWEs"]
    assert (m4a["source"]["offset"], m4a["source"]["duration"]) == (1.0, 2.0) and abs(m4a["_frames"] - 32000) <= 1
    assert samples["audioset--0SdAVK79lg"]["role"] == "eval"
    # the refused row's video is then used by no row: one more input, as accounting wants
    assert reasons(quarantine) == [("ingest", "audio_without_metadata", "audio/-0RWZT-miFs.wav"),
                                   ("ingest", "join_unmatched", "balanced_train_segments.csv:5")]


def test_fsd50k_dev_and_eval_tables(tmp_path):
    root = tmp_path / "FSD50K"
    A.write_fsd50k(str(root))
    summary, samples, quarantine = run(tmp_path, "fsd50k", str(root))
    event = SOUND + "<|event|>"
    assert views(samples) == {
        "fsd50k-dev-16399": [("sound_event", event, "Bark; Dog; Domestic animals and pets; Animal")],
        "fsd50k-dev-64760": [("sound_event", event, "Electric guitar; Guitar; Plucked string instrument; Musical instrument; Music")],
        "fsd50k-eval-37199": [("sound_event", event, "Walk and footsteps")],
    }
    assert {k: s["split"] for k, s in samples.items()} == {"fsd50k-dev-16399": "val", "fsd50k-dev-64760": "train", "fsd50k-eval-37199": "eval"}
    assert quarantine == []


def test_esc50(tmp_path):
    root = tmp_path / "ESC-50-master"
    A.write_esc50(str(root))
    summary, samples, quarantine = run(tmp_path, "esc50", str(root))
    assert views(samples) == {
        "esc50-1-100038-A-14": [("sound_event", SOUND + "<|event|>", "chirping birds")],
        "esc50-5-9032-A-0": [("sound_event", SOUND + "<|event|>", "dog")],
    }
    assert samples["esc50-5-9032-A-0"]["split"] == "5" and quarantine == []


def test_tut2017_scene_prompt_and_evaluation_package_held_out(tmp_path):
    root = tmp_path / "TUT2017"
    A.write_tut2017(str(root))
    summary, samples, quarantine = run(tmp_path, "tut2017", str(root))
    assert views(samples) == {
        "tut2017-development-a001_0_10": [("scene", SPEC["scene"], "residential area")],
        "tut2017-development-b020_90_100": [("scene", SPEC["scene"], "cafe or restaurant")],
        "tut2017-evaluation-1": [("scene", SPEC["scene"], "metro station")],
    }
    assert samples["tut2017-evaluation-1"]["role"] == "eval" and quarantine == []


def test_nsynth_note_analysis_and_instrument_from_one_audio(tmp_path):
    root = tmp_path / "nsynth"
    A.write_nsynth(str(root))
    summary, samples, quarantine = run(tmp_path, "nsynth", str(root))
    mna, instrument = SPEC["nsynth_mna"], SOUND + "<|instrument|>"
    assert views(samples) == {
        "nsynth-bass_synthetic_033-022-050": [
            ("note_analysis", mna, "<|pitch|><|midi_pitch_22|><|velocity|><|midi_velocity_50|><|instrument|>bass<|sonic|>dark"),
            ("instrument", instrument, "bass")],
        "nsynth-keyboard_electronic_001-060-100": [
            ("note_analysis", mna, "<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>keyboard<|sonic|>bright, fast decay"),
            ("instrument", instrument, "keyboard")],
        "nsynth-synth_lead_electronic_002-072-025": [
            ("note_analysis", mna, "<|pitch|><|midi_pitch_72|><|velocity|><|midi_velocity_25|><|instrument|>synth lead<|sonic|>"),
            ("instrument", instrument, "synth lead")],
    }
    assert samples["nsynth-keyboard_electronic_001-060-100"]["role"] == "eval"
    assert verify(str(tmp_path / "out")).problems == []  # the field tokens in the target are this task's own
    assert samples["nsynth-bass_synthetic_033-022-050"]["source"]["metadata"] == "nsynth-train/examples.json:bass_synthetic_033-022-050"
    assert quarantine == []


def test_gtzan_a_hair_over_thirty_seconds_kept_as_one_window_and_a_corrupt_file_quarantined(tmp_path):
    root = tmp_path / "gtzan"
    A.write_gtzan(str(root))
    summary, samples, quarantine = run(tmp_path, "gtzan", str(root))
    genre = SOUND + "<|song_meta|>"
    assert views(samples) == {"gtzan-blues_00000-eb55916ee1": [("music_genre", genre, "blues")],
                              "gtzan-hiphop_00042-58db9e5408-w0000000": [("music_genre", genre, "hip hop")]}
    hiphop = samples["gtzan-hiphop_00042-58db9e5408-w0000000"]  # 30.01 s: the first 30 s, the last 0.01 s left out
    assert (hiphop["_frames"], hiphop["source"]["offset"], hiphop["source"]["duration"]) == (480000, 0.0, 30.0)
    assert samples["gtzan-blues_00000-eb55916ee1"]["_frames"] == 472000  # 29.5 s, whole
    assert reasons(quarantine) == [("audio", "undecodable", "genres/jazz/jazz.00054.wav")]


def test_musiccaps_segments_and_audioset_eval_held_out(tmp_path):
    root = tmp_path / "musiccaps"
    A.write_musiccaps(str(root))
    summary, samples, quarantine = run(tmp_path, "musiccaps", str(root))
    prompt = CAPTION + "<|music_description|>"
    assert views(samples) == {
        "musiccaps--0Gj8-vB1q4": [("music_caption", prompt, 'The low quality recording features a sustained strings melody, soft and "mellow".')],
        "musiccaps--0SdAVK79lg": [("music_caption", prompt, "A fast acoustic guitar riff.")],
    }
    assert {k: (s["split"], s["role"]) for k, s in samples.items()} == {
        "musiccaps--0Gj8-vB1q4": ("audioset_eval", "eval"), "musiccaps--0SdAVK79lg": ("audioset_train", "train")}
    assert samples["musiccaps--0Gj8-vB1q4"]["_frames"] == 32000 and quarantine == []


def test_fma_multi_row_header_and_zero_padded_audio_names(tmp_path):
    root = tmp_path / "fma"
    A.write_fma(str(root))
    summary, samples, quarantine = run(tmp_path, "fma", str(root))
    genre = SOUND + "<|song_meta|>"
    assert views(samples) == {"fma-140-w0000000": [("music_genre", genre, "folk")], "fma-2-w0000000": [("music_genre", genre, "hip hop")]}
    assert samples["fma-2-w0000000"]["license"] == "Attribution-NonCommercial-ShareAlike 3.0 International"
    assert samples["fma-140-w0000000"]["role"] == "eval" and samples["fma-2-w0000000"]["_frames"] == 480000
    assert reasons(quarantine) == [("ingest", "audio_missing", "fma_metadata/tracks.csv:7"), ("ingest", "no_top_genre", "fma_metadata/tracks.csv:5")]
