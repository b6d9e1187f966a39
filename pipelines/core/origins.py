"""Origins: the upstream identity of a record's audio, so one source clip is known in every corpus that ships it.

A schema's ``origin`` template renders ``KIND:ID`` (``freesound:12345``, ``librivox:103-1240-0005``)
or, for a stretch of a longer source, ``KIND:ID@START+LENGTH`` in seconds
(``youtube:--PJHxphWEs@30+10``). Corpora cut one video with different start times, so two origins
of one ``KIND:ID`` are the same audio when their stretches overlap; an origin without a stretch is
the whole source and overlaps every stretch of it. Used by planning (``plan/leaks.py``) and ingest.
"""
from __future__ import annotations

import re
from typing import NamedTuple

_RANGE = re.compile(r"(?P<start>\d+(?:\.\d+)?)\+(?P<length>\d+(?:\.\d+)?)")
#: Float slack when comparing stretches (seconds)
EPSILON = 1e-6


class Origin(NamedTuple):
    identity: str  # KIND:ID
    start: float  # seconds into the source (0 for a whole source)
    end: float  # inf for a whole source


def parse_origin(text: str) -> Origin:
    """``KIND:ID`` or ``KIND:ID@START+LENGTH`` as an identity and a stretch (the whole source when no
    stretch is given, or when what follows ``@`` is not one)."""
    head, at, tail = text.rpartition("@")
    if at:
        match = _RANGE.fullmatch(tail)
        if match is not None:
            start = float(match["start"])
            return Origin(head, start, start + float(match["length"]))
        return Origin(head, 0.0, float("inf"))
    return Origin(text, 0.0, float("inf"))


def has_identity(text: str) -> bool:
    """Whether a rendered origin names a source: something after ``KIND:`` (an empty field renders none)."""
    identity = parse_origin(text).identity
    kind, colon, rest = identity.partition(":")
    return bool(colon and kind and rest.strip(" -_:/"))


def overlap(a: Origin, b: Origin) -> bool:
    """The same source, stretches overlapping by more than float slack."""
    return a.identity == b.identity and max(a.start, b.start) < min(a.end, b.end) - EPSILON
