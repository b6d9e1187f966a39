"""``build_report``: a run's statistics, its warnings and, against a baseline run, what changed, as one
JSON-ready dict (what ``audioprep stats --json`` writes and ``sections`` lays out)."""
from __future__ import annotations

from dataclasses import asdict

from pipelines.report.compare import compare
from pipelines.report.compute import statistics
from pipelines.report.load import Run
from pipelines.report.warnings import Thresholds, find_warnings


def build_report(run: Run, limits: Thresholds = Thresholds(), baseline: Run | None = None) -> dict:
    """Every statistic of ``run`` (and, with ``baseline``, what changed since it) as JSON-ready data."""
    report = {**statistics(run), "thresholds": asdict(limits)}
    report["warnings"] = find_warnings(run, report, limits)
    if baseline is not None:
        report["compare"] = compare(report, build_report(baseline, limits))
    return report
