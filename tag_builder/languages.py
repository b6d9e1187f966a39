"""Language codes that have a Qwen-Audio language token, and nothing else.

A corpus in a language outside this table cannot be tagged: callers refuse it with a reason
rather than invent a token.
"""
from __future__ import annotations

from tag_builder.vocabulary import check_token

#: language code (as schemas spell it) -> token
LANGUAGE_TOKENS: dict[str, str] = {
    "en": "<|en|>",
    "zh": "<|zh|>",
    "de": "<|de|>",
    "es": "<|es|>",
    "ko": "<|ko|>",
    "fr": "<|fr|>",
    "ja": "<|ja|>",
    "it": "<|it|>",
    "zh_tr": "<|zh_tr|>",
}
NO_SPEECH_TOKEN = "<|unknown|>"


def language_token(code: str | None) -> str | None:
    """The token for ``code``, or None when the language has no token."""
    if code is None:
        return None
    token = LANGUAGE_TOKENS.get(code)
    return check_token(token) if token else None
