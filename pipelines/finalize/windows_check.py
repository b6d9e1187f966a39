"""What ``audioprep verify`` checks of a built output's windows: none runs across a segment dropped at ingest.

A segment dropped at ingest (excluded by the schema, an empty or unusable transcript) is quarantined
with its span (``Drop.span``: its audio file, offset and duration). A window's JSON records its audio
file, its offset and duration and, since windows kept their segments' spans, those spans
(``source.spans``, from the window's start). A window whose gaps between segments (or, for an
output written before spans were recorded, whose whole stretch) overlap a dropped span holds speech
its transcript lacks: verify names it.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict

from pipelines.core import outputs
from pipelines.core.record import DropSpan

#: Float slack when comparing spans (seconds): corpus times are written to 0.01 s or finer.
EPSILON = 1e-6


class DroppedSpans:
    """The dropped segments of a run, by (dataset, audio file): read from its quarantine."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str], list[tuple[float, float, str]]] = defaultdict(list)

    @classmethod
    def of_run(cls, out: str) -> "DroppedSpans":
        """The quarantine's dropped segments (``quarantine.jsonl`` in ``out``; none when it is missing)."""
        spans = cls()
        path = os.path.join(out, outputs.QUARANTINE)
        if not os.path.exists(path):
            return spans
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if '"span"' not in line:
                    continue  # most drops have none: skip the JSON parse
                row = json.loads(line)
                span = DropSpan.of_row(row.get("span"))
                if span is not None:
                    end = span.offset + span.duration
                    spans.spans[(row["dataset"], span.audio)].append((span.offset, end, f"{row['reason']}, {row['source']}"))
        return spans

    def crossed(self, meta: dict) -> list[str]:
        """The dropped segments a sample's window runs across (empty for a sample that is no window)."""
        source = meta.get("source") or {}
        if "segments" not in (meta.get("meta") or {}) or source.get("duration") is None:
            return []
        dropped = self.spans.get((meta.get("dataset"), source.get("audio")))
        if not dropped:
            return []
        offset = float(source.get("offset") or 0.0)
        inside = _gaps(offset, float(source["duration"]), source.get("spans"))
        return [
            f"{a:.2f}-{b:.2f} s ({why})" for a, b, why in dropped
            if any(max(a, start) < min(b, end) - EPSILON for start, end in inside)
        ]


def _gaps(offset: float, duration: float, spans: list | None) -> list[tuple[float, float]]:
    """The stretches of a window no segment of it covers, in seconds of its file (the whole window when
    its spans are not recorded)."""
    if not spans:
        return [(offset, offset + duration)]
    gaps, covered = [], offset
    for start, end in sorted((offset + a, offset + b) for a, b in spans):
        if start > covered + EPSILON:
            gaps.append((covered, start))
        covered = max(covered, end)
    return gaps
