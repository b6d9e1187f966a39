"""Natural-language instructions for the chat exports: the table in ``instructions.yaml`` (data).

A view's instruction is one of its task's phrasings, chosen from the sample key (stable across runs
and machines: a CRC of task and key, not Python's salted ``hash``), with ``{question}`` and
``{target_language}`` filled in from the view's prompt. Loading checks the table: every phrasing
is a string whose placeholders are known and which spells no special token.
"""
from __future__ import annotations

import string
import zlib
from functools import lru_cache
from importlib.resources import files

import yaml

from tag_builder.languages import LANGUAGE_TOKENS
from tag_builder.views import question_text, tag_sequence
from tag_builder.vocabulary import special_tokens, split_tokens, token_spellings

PLACEHOLDERS = frozenset({"question", "target_language"})
_SOURCE = "tag_builder/instructions.yaml"


class InstructionError(ValueError):
    """The instruction table is malformed, or a view cannot be phrased."""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _check_phrasing(task: str, text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InstructionError(f"{_SOURCE}: task {task}: every phrasing must be a non-empty string, got {text!r}")
    unknown = _placeholders(text) - PLACEHOLDERS
    if unknown:
        raise InstructionError(f"{_SOURCE}: task {task}: unknown placeholder(s) {sorted(unknown)} in {text!r}; known: {sorted(PLACEHOLDERS)}")
    leaked = token_spellings(text) + [t for t in special_tokens() if not t.startswith("<|") and t in text]
    if leaked:
        raise InstructionError(f"{_SOURCE}: task {task}: phrasing {text!r} spells special token(s) {leaked}")
    return text


@lru_cache(maxsize=1)
def instruction_table() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(language code -> English name, task -> phrasings), checked."""
    data = yaml.safe_load(files("tag_builder").joinpath("instructions.yaml").read_text(encoding="utf-8"))
    names = dict(data.get("language_names") or {})
    missing = sorted(set(LANGUAGE_TOKENS) - set(names))
    if missing:
        raise InstructionError(f"{_SOURCE}: language_names lacks {missing}")
    tasks = {}
    for task, phrasings in (data.get("tasks") or {}).items():
        if not isinstance(phrasings, list) or not phrasings:
            raise InstructionError(f"{_SOURCE}: task {task} needs a list of phrasings")
        tasks[task] = tuple(_check_phrasing(task, text) for text in phrasings)
    return names, tasks


def phrasings(task: str) -> tuple[str, ...]:
    """Every phrasing of ``task``; raises naming the task when the table has none."""
    table = instruction_table()[1]
    if task not in table:
        raise InstructionError(f"{_SOURCE} has no instructions for task {task!r}")
    return table[task]


def text_language_name(prompt: str) -> str:
    """The English name of a prompt's text language (slot L; a question prompt's only language slot)."""
    tokens = split_tokens(tag_sequence(prompt))
    slot = tokens[1] if question_text(prompt) is not None else tokens[3]
    codes = {token: code for code, token in LANGUAGE_TOKENS.items()}
    return instruction_table()[0][codes[slot]]


def instruction(task: str, prompt: str, key: str) -> str:
    """The instruction of one view: a phrasing of ``task`` chosen from ``key``, filled from ``prompt``."""
    choices = phrasings(task)
    text = choices[zlib.crc32(f"{task}/{key}".encode("utf-8")) % len(choices)]
    fields = {}
    needed = _placeholders(text)
    if "question" in needed:
        question = question_text(prompt)
        if question is None:
            raise InstructionError(f"task {task}: the phrasing needs a question and prompt {prompt!r} has none")
        fields["question"] = question.strip()
    if "target_language" in needed:
        fields["target_language"] = text_language_name(prompt)
    return text.format(**fields)
