"""Several measurements of the same benchmark, summarized: the median of every target figure and its
range, so that a verdict does not hang on one run of a noisy machine (``bench/run.py --repeat N``).

Each figure is read from a run's ``results.json`` the way ``bench/run.py`` computed it: CPU efficiency
end to end at the largest corpus and in steady state, 2-worker scaling at the second corpus size, at
the largest where it was measured (the headline engine) and in steady state, peak-memory growth, the
wall-time ratio to lhotse (2 jobs, the largest size compared), ingest records per CPU second, and the
codec bound itself (its spread is the machine's noise).
"""
from __future__ import annotations

import statistics
from typing import Callable

#: (figure, goal as text, test of a value against the goal, how to read it from one engine's results)
Figure = tuple[str, str, Callable[[float], bool] | None, Callable[[dict, str], float | None]]


def _largest(values: dict) -> float | None:
    sizes = [k for k in values if k != "steady"]
    return values[max(sizes, key=lambda k: int(k[:-1]))] if sizes else None


def _second(values: dict) -> float | None:
    sizes = sorted((k for k in values if k != "steady"), key=lambda k: int(k[:-1]))
    return values[sizes[1]] if len(sizes) > 1 else None


def _largest_beyond_second(values: dict) -> float | None:
    """The figure at the largest size when it was measured at more than two sizes (else ``_second`` has it)."""
    sizes = [k for k in values if k != "steady"]
    return _largest(values) if len(sizes) > 2 else None


def _lhotse(results: dict, engine: str) -> float | None:
    rows = [c for c in results.get("lhotse_comparison", []) if c["engine"] == engine and c["jobs"] == 2]
    return max(rows, key=lambda c: int(c["scale"][:-1]))["wall_ratio"] if rows else None


def _derived(results: dict, engine: str) -> dict:
    return results.get("derived", {}).get(engine, {})


FIGURES: list[Figure] = [
    ("CPU efficiency, 2 workers, largest corpus", ">= 0.8", lambda v: v >= 0.8,
     lambda r, e: _largest(_derived(r, e).get("efficiency", {}))),
    ("CPU efficiency, steady state", ">= 0.8", lambda v: v >= 0.8,
     lambda r, e: _derived(r, e).get("efficiency", {}).get("steady")),
    ("2 workers / 1 worker, second corpus size", ">= 1.7", lambda v: v >= 1.7,
     lambda r, e: _second(_derived(r, e).get("scaling_2_workers", {}))),
    # measured with 1 worker at the largest size too only for the headline engine
    ("2 workers / 1 worker, largest corpus", ">= 1.7", lambda v: v >= 1.7,
     lambda r, e: _largest_beyond_second(_derived(r, e).get("scaling_2_workers", {}))),
    ("2 workers / 1 worker, steady state", ">= 1.7", lambda v: v >= 1.7,
     lambda r, e: _derived(r, e).get("scaling_2_workers", {}).get("steady")),
    ("peak RSS growth, 1x to the largest corpus", "<= 0.10", lambda v: v <= 0.10,
     lambda r, e: _derived(r, e).get("peak_rss_growth")),
    ("wall time ours / lhotse, 2 workers", "< 1", lambda v: v < 1, _lhotse),
    # against the work bound (codec loop + quality metrics + PCM hash): the pipeline's own overhead
    ("CPU efficiency against the work bound, 2 workers, largest corpus", "", None,
     lambda r, e: _largest(_derived(r, e).get("efficiency_work", {}))),
    ("CPU efficiency against the work bound, steady state", "", None,
     lambda r, e: _derived(r, e).get("efficiency_work", {}).get("steady")),
    # the same two figures with no correction for the machine's speed (against the bound from the start)
    ("CPU efficiency, 2 workers, largest corpus, as measured", "", None,
     lambda r, e: _largest(r.get("derived_uncorrected", {}).get(e, {}).get("efficiency", {}))),
    ("2 workers / 1 worker, second corpus size, as measured", "", None,
     lambda r, e: _second(r.get("derived_uncorrected", {}).get(e, {}).get("scaling_2_workers", {}))),
    ("2 workers / 1 worker, largest corpus, as measured", "", None,
     lambda r, e: _largest_beyond_second(r.get("derived_uncorrected", {}).get(e, {}).get("scaling_2_workers", {}))),
]
ENGINE_FREE: list[Figure] = [
    ("ingest records per CPU second", ">= 50,000", lambda v: v >= 50_000, lambda r, e: r["ingest_records_per_cpu_s"]),
    ("codec bound, audio s per CPU s", "", None, lambda r, e: r["codec_bound"]["audio_s_per_cpu_s"]),
    ("per-clip measures (quality metrics, PCM hash) / codec bound CPU", "", None,
     lambda r, e: r["codec_bound"].get("measures_cpu_s", 0.0) / r["codec_bound"]["cpu_s"]),
    ("codec loop between runs, slowest to fastest pass", "", None, lambda r, e: (r.get("machine_speed") or {}).get("spread")),
]


def _row(name: str, engine: str, goal: str, test, values: list[float]) -> dict:
    median = statistics.median(values)
    return {
        "figure": name, "engine": engine, "goal": goal, "runs": len(values), "values": values,
        "median": median, "min": min(values), "max": max(values),
        "met_by_median": None if test is None else test(median),
        "met_by_every_run": None if test is None else all(test(v) for v in values),
    }


def summarize(results: list[dict]) -> dict:
    """Median and range of every target figure over ``results`` (one dict per run), per engine."""
    engines = list(dict.fromkeys(e for r in results for e in r.get("derived", {}) if e != "lhotse"))
    rows = []
    for name, goal, test, read in FIGURES:
        for engine in engines:
            values = [v for v in (read(r, engine) for r in results) if v is not None]
            if values:
                rows.append(_row(name, engine, goal, test, values))
    for name, goal, test, read in ENGINE_FREE:
        values = [v for v in (read(r, "") for r in results) if v is not None]
        if values:
            rows.append(_row(name, "", goal, test, values))
    return {"runs": len(results), "started": [r["started"] for r in results], "figures": rows}


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _verdict(row: dict) -> str:
    if row["met_by_median"] is None:
        return ""
    if row["met_by_every_run"]:
        return "yes, every run"
    return "yes by the median, not every run" if row["met_by_median"] else "no"


def summary_markdown(summary: dict, chosen: str) -> str:
    lines = [
        f"# audioprep benchmark: {summary['runs']} runs ({', '.join(summary['started'])})",
        "",
        f"Median of each figure over the runs and its range (the machine's run-to-run noise); "
        f"results.json and results.md beside this file are those of {chosen}, the run with the median "
        "headline CPU efficiency (`--repeat` keeps every run's own in run-N/).",
        "",
        "| figure | engine | median | range | goal | met |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in summary["figures"]:
        lines.append(
            f"| {row['figure']} | {row['engine'] or '-'} | {_number(row['median'])} | "
            f"{_number(row['min'])}-{_number(row['max'])} | {row['goal']} | {_verdict(row)} |"
        )
    return "\n".join(lines) + "\n"


def median_run(results: list[dict]) -> int:
    """Index of the run whose headline CPU efficiency is the median (the lower one of an even count)."""
    order = sorted(range(len(results)), key=lambda i: results[i]["cpu_efficiency"])
    return order[(len(order) - 1) // 2]
