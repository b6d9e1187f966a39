"""What the chat formats share: one conversation per task view, its instruction, its series of files.

Each view of a sample becomes one user turn (the task's natural-language instruction,
``tag_builder.instructions``) and one assistant turn (the view's target exactly as the shard holds
it, special tokens included: docs/exports.md says why). The rows of a set go to the series named
after it (``train``, ``eval/NAME/SPLIT``), split into parts of ``rows_per_file`` rows.
"""
from __future__ import annotations

from typing import Iterator

from tag_builder.instructions import instruction

from pipelines.reader.shards import RawSample


class ChatFormat:
    """A chat format: subclasses turn (instruction, target, audio) into one row."""

    name = ""
    evaluation_only = False
    split_files = True

    def sets(self, available: list[str]) -> list[str]:
        return available

    def row(self, instruction_text: str, target: str, audio: str) -> dict:
        raise NotImplementedError

    def rows(self, group: str, sample: RawSample, audio: str) -> Iterator[tuple[str, dict]]:
        for view in sample.meta["tasks"]:
            text = instruction(view["task"], view["prompt"], sample.key)
            yield group, self.row(text, view["target"], audio)

    def finish(self, destination, files: dict[str, list[str]]) -> dict:
        """Files beside the rows (LLaMA-Factory's dataset_info.json); what to report."""
        return {}
