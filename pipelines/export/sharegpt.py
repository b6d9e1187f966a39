"""ms-swift and LLaMA-Factory: the messages form with an ``audios`` list, one ``<audio>`` per audio.

A row is ``{"messages": [{"role": "user", "content": "<audio>INSTRUCTION"}, {"role": "assistant",
"content": TARGET}], "audios": [PATH]}``: ms-swift's standard format and LLaMA-Factory's sharegpt
format with OpenAI-style tags (its ``mllm_audio_demo``). For LLaMA-Factory the export also registers
every set in ``dataset_info.json`` (merged into one the folder already has): ``file_name`` is the
set's folder of parts, and audio paths are relative to the export folder, LLaMA-Factory's
``dataset_dir`` and default ``media_dir``.
"""
from __future__ import annotations

import os

from pipelines.core.atomic import read_json
from pipelines.core.outputs import safe_name
from pipelines.export.chat import ChatFormat

AUDIO_TAG = "<audio>"
DATASET_INFO = "dataset_info.json"


def messages_row(instruction_text: str, target: str, audio: str) -> dict:
    return {
        "messages": [{"role": "user", "content": AUDIO_TAG + instruction_text}, {"role": "assistant", "content": target}],
        "audios": [audio],
    }


class MsSwift(ChatFormat):
    name = "ms-swift"

    def row(self, instruction_text: str, target: str, audio: str) -> dict:
        return messages_row(instruction_text, target, audio)


def dataset_name(series: str) -> str:
    """The LLaMA-Factory dataset name of a set: ``audioprep_train``, ``audioprep_eval_NAME_SPLIT``."""
    return "audioprep_" + safe_name(series.replace("/", "_"))


def dataset_info_entry(folder: str) -> dict:
    """The ``dataset_info.json`` entry of one set whose parts lie in ``folder`` (relative to dataset_dir)."""
    return {
        "file_name": folder,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "audios": "audios"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
    }


class LlamaFactory(MsSwift):
    name = "llama-factory"

    def finish(self, destination, files: dict[str, list[str]]) -> dict:
        path = destination.path(DATASET_INFO)
        if not os.path.exists(path):
            destination.mirror.fetch(path)
        info = read_json(path) if os.path.exists(path) else {}
        for series in files:
            info[dataset_name(series)] = dataset_info_entry(series)
        destination.write_json(DATASET_INFO, info)
        return {"dataset_info": DATASET_INFO, "datasets": sorted(dataset_name(s) for s in files)}
