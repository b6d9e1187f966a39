"""The closed vocabulary of special tokens; nothing outside it may ever be emitted.

The list lives in ``special_tokens.txt`` (data, in tokenizer order); this module only expands it
and answers membership and parsing questions.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files

#: Number of ordinary BPE ranks before the first special token in Qwen's tokenizer.
ORDINARY_RANKS = 151_643

TOKEN_PATTERN = re.compile(r"<\|[^<>|]*\|>")


class UnknownTokenError(ValueError):
    """A string that looks like a special token but is not in the closed vocabulary."""


def _expand(line: str) -> list[str]:
    if not line.startswith("RANGE "):
        return [line]
    _, prefix, start, stop, fmt, suffix = line.split(" ")
    scale = 0.01 if fmt.endswith("f") else 1
    return [f"{prefix}{format(i * scale, fmt)}{suffix}" for i in range(int(start), int(stop) + 1)]


@lru_cache(maxsize=1)
def special_tokens() -> tuple[str, ...]:
    """Every special token, in tokenizer order."""
    text = files("tag_builder").joinpath("special_tokens.txt").read_text(encoding="utf-8")
    tokens: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            tokens.extend(_expand(line))
    return tuple(tokens)


@lru_cache(maxsize=1)
def _token_set() -> frozenset[str]:
    return frozenset(special_tokens())


def token_id(token: str) -> int:
    """The id Qwen's tokenizer gives ``token``."""
    return ORDINARY_RANKS + special_tokens().index(token)


def is_token(token: str) -> bool:
    return token in _token_set()


def check_token(token: str) -> str:
    """Return ``token`` if it is in the vocabulary, else raise naming it."""
    if token not in _token_set():
        raise UnknownTokenError(f"{token!r} is not a Qwen-Audio special token")
    return token


def time_token(seconds: float) -> str:
    """The time token for ``seconds`` (rounded to 0.01 s), checked against the vocabulary."""
    return check_token(f"<|{round(seconds * 100) * 0.01:.2f}|>")


def token_spellings(text: str) -> list[str]:
    """Every substring of ``text`` spelled like a special token (known or not)."""
    return TOKEN_PATTERN.findall(text) if "<|" in text else []


def split_tokens(prompt: str) -> list[str]:
    """Split a prompt made only of special tokens; raise if anything else is in it."""
    pieces = TOKEN_PATTERN.findall(prompt)
    if "".join(pieces) != prompt:
        raise UnknownTokenError(f"prompt {prompt!r} holds text outside special tokens")
    for piece in pieces:
        check_token(piece)
    return pieces
