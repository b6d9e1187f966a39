"""Clean-up every language gets: Unicode NFKC, no control or zero-width characters, whitespace
folded, typographic quotes made plain, one casing convention. Each function is one named step."""
from __future__ import annotations

import re
import unicodedata

#: Zero-width and bidirectional formatting characters (category Cf, which NFKC keeps).
_INVISIBLE = re.compile(r"[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
#: Typographic single and double quotes -> ASCII (German „…“, English “…”, apostrophes ’).
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"'})


def strip_controls(text: str) -> str:
    """Zero-width characters vanish; every other control or format character becomes a space."""
    if not text.isascii():  # every invisible character is outside ASCII
        text = _INVISIBLE.sub("", text)
    if text.isprintable():  # fast path: no character of category C (nor any space but " ")
        return text
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)


def nfkc(text: str) -> str:
    """Compatibility forms to their plain spelling: full-width ASCII to half-width, ligatures split,
    half-width katakana to full-width, CJK compatibility ideographs unified."""
    return unicodedata.normalize("NFKC", text)


def fold_whitespace(text: str) -> str:
    """Runs of whitespace to one space, none at the ends (``str.split`` splits where ``\\s`` matches)."""
    return " ".join(text.split())


def straight_quotes(text: str) -> str:
    """Curly quotes and apostrophes to ASCII ' and " (guillemets « » are kept)."""
    return text if text.isascii() else text.translate(_QUOTES)  # ASCII has no curly quote


def lower(text: str) -> str:
    """Lower case (NFKC again: lower-casing can produce a compatibility form)."""
    return nfkc(text.lower())


def is_all_caps(text: str) -> bool:
    """True when the text has cased letters and none of them is lower-case."""
    return any(ch.isupper() for ch in text) and not any(ch.islower() for ch in text)


def lower_all_caps(text: str) -> str:
    """Lower-case a text written entirely in capitals; mixed-case text is kept as it is."""
    return lower(text) if is_all_caps(text) else text


#: A UTF-8 lead byte and its continuation bytes, as they look after a Windows-1252 / Latin-1 decode.
_CP1252_HIGH = (
    "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018\u2019"
    "\u201a\u201c\u201d\u201e\u2020\u2021\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_HIGH}]{{1,3}}")


def _byte(ch: str) -> int:
    return ord(ch) if ord(ch) < 256 else ch.encode("cp1252")[0]


def repair_mojibake(text: str) -> str:
    """UTF-8 text that was decoded as Windows-1252 or Latin-1 and re-encoded, repaired where the
    bytes decode as UTF-8 again (``heâ\x80\x99s`` and ``heâ€™s`` -> ``he’s``); anything else is kept."""

    def fix(match: re.Match[str]) -> str:
        raw = match.group(0)
        try:
            return bytes(_byte(ch) for ch in raw).decode("utf-8")
        except (UnicodeError, ValueError):
            return raw

    return _MOJIBAKE.sub(fix, text)
