"""ChatML text as Qwen-Audio-Chat reads it: one ``{"text": ...}`` row per task view.

``<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\nAudio 1:<audio>PATH</audio>\\n
INSTRUCTION<|im_end|>\\n<|im_start|>assistant\\nTARGET<|im_end|>``. The audio line is spelled as the
Qwen-Audio tokenizer's ``from_list_format`` writes it, with no space after ``Audio 1:`` (the
repository's ``assets/sft_sample.txt`` shows one): what the model sees at inference.
"""
from __future__ import annotations

from pipelines.export.chat import ChatFormat

SYSTEM = "You are a helpful assistant."


def chatml_text(instruction_text: str, target: str, audio: str) -> str:
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\nAudio 1:<audio>{audio}</audio>\n{instruction_text}<|im_end|>\n"
        f"<|im_start|>assistant\n{target}<|im_end|>"
    )


class ChatML(ChatFormat):
    name = "chatml"

    def row(self, instruction_text: str, target: str, audio: str) -> dict:
        return {"text": chatml_text(instruction_text, target, audio)}
