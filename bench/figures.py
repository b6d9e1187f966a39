"""Figures computed from the runs' rows: throughput, CPU efficiency against the codec bound (at the
machine's speed around each run) and against the work bound (the codec bound plus the quality metrics
and PCM hash every clip gets: what is left is the pipeline's own cost), 2-worker scaling, steady state between two corpus sizes, peak
memory growth, the comparison with lhotse; then the headline engine's figures and the targets.
"""
from __future__ import annotations


def derive(row: dict) -> dict:
    """A run's row with its throughput: audio h per wall h, audio s per CPU s, shard MB/s."""
    row["audio_h_per_wall_h"] = row["audio_s"] / row["wall_s"]
    row["audio_s_per_cpu_s"] = row["audio_s"] / row["cpu_s"]
    row["shard_mb_per_s"] = row["bytes"] / 2**20 / row["wall_s"]
    return row


def at_reference(row: dict, key: str, codec: dict) -> float:
    """A run's CPU or wall seconds at the speed the codec bound was measured at: seconds spent while
    the machine ran the codec loop 10% faster than then count 10% more (they did 10% more work).
    The speed during a run is the codec loop's just before and just after it (``runs.Bench.bracketed``)."""
    return row[key] * row.get("bound_speed", codec["audio_s_per_cpu_s"]) / codec["audio_s_per_cpu_s"]


def efficiency(row: dict, codec: dict) -> None:
    """CPU efficiency against the codec loop measured around this run, and against the bound measured
    once at the start of the measurement (``efficiency_start``, what a drift of the machine skews)."""
    row["efficiency"] = row["audio_s_per_cpu_s"] / row.get("bound_speed", codec["audio_s_per_cpu_s"])
    row["efficiency_start"] = row["audio_s_per_cpu_s"] / codec["audio_s_per_cpu_s"]


def speed_summary(speeds: list[float], codec: dict) -> dict:
    """How much the machine's speed moved during the measurement (the codec loop's passes between runs)."""
    if not speeds:
        return {}
    return {"bound": codec["audio_s_per_cpu_s"], "passes": len(speeds), "speeds": speeds, "min": min(speeds),
            "max": max(speeds), "spread": max(speeds) / min(speeds) - 1.0}


def derived(by_key: dict, engine: str, scales: list[int], codec: dict, corrected: bool) -> dict:
    """Efficiency, 2-worker scaling and peak memory of one engine at every size, end to end and in steady state."""
    if corrected:
        def at(row: dict, key: str) -> float:
            return at_reference(row, key, codec)
    else:
        def at(row: dict, key: str) -> float:
            return row[key]
    bound = codec["audio_s_per_cpu_s"]
    d: dict = {"efficiency": {}, "scaling_2_workers": {}, "peak_rss_mb": {}}
    for scale in scales:
        two = by_key.get((engine, 2, scale))
        one = by_key.get((engine, 1, scale))
        if two:
            d["efficiency"][f"{scale}x"] = two["audio_s"] / at(two, "cpu_s") / bound
            d["peak_rss_mb"][f"{scale}x"] = two["peak_rss_mb"]
        if one and two:
            d["scaling_2_workers"][f"{scale}x"] = (two["audio_s"] / at(two, "wall_s")) / (one["audio_s"] / at(one, "wall_s"))
    present = [s for s in scales if (engine, 2, s) in by_key]
    if len(present) > 1:
        m = marginal(by_key[(engine, 2, present[0])], by_key[(engine, 2, present[-1])], at)
        if m["audio_s_per_cpu_s"]:
            d["efficiency"]["steady"] = m["audio_s_per_cpu_s"] / bound
    both = [s for s in scales if (engine, 1, s) in by_key and (engine, 2, s) in by_key]
    if len(both) > 1:
        one_m = marginal(by_key[(engine, 1, both[0])], by_key[(engine, 1, both[-1])], at)
        two_m = marginal(by_key[(engine, 2, both[0])], by_key[(engine, 2, both[-1])], at)
        if one_m["audio_h_per_wall_h"] and two_m["audio_h_per_wall_h"]:
            d["scaling_2_workers"]["steady"] = two_m["audio_h_per_wall_h"] / one_m["audio_h_per_wall_h"]
    # against the work bound (codec loop plus the per-clip measures, at the share the first loop measured)
    work = 1.0 + codec.get("measures_cpu_s", 0.0) / codec["cpu_s"]
    d["efficiency_work"] = {size: value * work for size, value in d["efficiency"].items()}
    known = list(d["peak_rss_mb"].values())
    d["peak_rss_growth"] = max(known) / min(known) - 1.0 if len(known) > 1 else None
    return d


def marginal(small: dict, large: dict, at=lambda row, key: row[key]) -> dict:
    """Throughput on the extra audio between two sizes: start-up and other fixed costs cancel out."""
    audio = large["audio_s"] - small["audio_s"]
    cpu, wall = at(large, "cpu_s") - at(small, "cpu_s"), at(large, "wall_s") - at(small, "wall_s")
    return {
        "audio_s_per_cpu_s": audio / cpu if cpu > 0 and audio > 0 else None,
        "audio_h_per_wall_h": audio / wall if wall > 0 and audio > 0 else None,
    }


def lhotse_comparison(lhotse_runs: list[dict], engines: list[str], by_key: dict, codec: dict) -> list[dict]:
    """Each lhotse run against each engine's run with as many workers on the same corpus: wall and CPU
    ratios at the bound's speed, and as measured."""
    comparison = []
    for lh in lhotse_runs:
        scale = int(lh["scale"][:-1])
        for engine in engines:
            ours = by_key.get((engine, lh["workers"], scale))
            if ours is not None:
                comparison.append({
                    "scale": lh["scale"], "jobs": lh["workers"], "ours": ours["name"], "engine": engine,
                    "lhotse_wall_s": lh["wall_s"], "lhotse_cpu_s": lh["cpu_s"],
                    "our_wall_s": ours["wall_s"], "our_cpu_s": ours["cpu_s"],
                    "wall_ratio": at_reference(ours, "wall_s", codec) / at_reference(lh, "wall_s", codec),
                    "cpu_ratio": at_reference(ours, "cpu_s", codec) / at_reference(lh, "cpu_s", codec),
                    "wall_ratio_uncorrected": ours["wall_s"] / lh["wall_s"],
                    "cpu_ratio_uncorrected": ours["cpu_s"] / lh["cpu_s"],
                })
    return comparison


def headline(head: str, figures: dict, comparison: list[dict]) -> dict:
    """The headline engine's figures (``figures``: its ``derived`` ones), end to end at the largest size
    measured for each (start-up costs matter less there); every other figure is in the tables."""
    eff_at = max((k for k in figures["efficiency"] if k != "steady"), key=lambda k: int(k[:-1]))
    sc_at = max((k for k in figures["scaling_2_workers"] if k != "steady"), key=lambda k: int(k[:-1]))
    peak = {k: figures["peak_rss_mb"].get(k) for k in ("1x", "4x", "16x")}
    peak.update(figures["peak_rss_mb"])
    head_cmp = max((c for c in comparison if c["engine"] == head and c["jobs"] == 2), key=lambda c: int(c["scale"][:-1]), default=None)
    return {
        "cpu_efficiency": figures["efficiency"][eff_at],
        "cpu_efficiency_at": eff_at,
        "scaling_2_workers": figures["scaling_2_workers"][sc_at],
        "scaling_2_workers_at": sc_at,
        "peak_rss_mb": peak,
        "peak_rss_growth": figures["peak_rss_growth"],
        "lhotse_ratio": head_cmp["wall_ratio"] if head_cmp else None,
        "lhotse_ratio_at": head_cmp["scale"] if head_cmp else None,
    }


def targets(head: str, figures: dict, top: dict, ingest_per_cpu_s: float) -> list[dict]:
    """The goals of issue 11, each with its value and whether it is met: the headline engine's
    (``figures``: its ``derived`` ones; ``top``: its ``headline``) and ingest's."""
    eff_at, cpu_efficiency = top["cpu_efficiency_at"], top["cpu_efficiency"]
    sc_at, scaling_2, flat = top["scaling_2_workers_at"], top["scaling_2_workers"], top["peak_rss_growth"]
    result = [{"name": f"CPU efficiency ({head}, 2 workers, {eff_at} corpus)", "value": cpu_efficiency, "goal": ">= 0.8",
               "met": cpu_efficiency >= 0.8}]
    if "steady" in figures["efficiency"]:
        steady = figures["efficiency"]["steady"]
        result.append({"name": f"CPU efficiency ({head}, steady state)", "value": steady, "goal": ">= 0.8", "met": steady >= 0.8})
    result.append({"name": f"2 workers / 1 worker wall throughput ({head}, {sc_at} corpus)", "value": scaling_2, "goal": ">= 1.7",
                   "met": scaling_2 >= 1.7})
    if "steady" in figures["scaling_2_workers"]:
        s2 = figures["scaling_2_workers"]["steady"]
        result.append({"name": f"2 workers / 1 worker ({head}, steady state)", "value": s2, "goal": ">= 1.7", "met": s2 >= 1.7})
    result.append({"name": f"peak RSS growth from 1x to the largest corpus ({head})", "value": flat, "goal": "<= 0.10",
                   "met": None if flat is None else flat <= 0.10})
    if top["lhotse_ratio_at"] is not None:
        ratio = top["lhotse_ratio"]
        result.append({"name": f"wall time ours / lhotse ({head}, 2 workers, {top['lhotse_ratio_at']} corpus)", "value": ratio,
                       "goal": "< 1", "met": ratio < 1})
    result.append({"name": "ingest records per CPU second (one process)", "value": ingest_per_cpu_s, "goal": ">= 50,000",
                   "met": ingest_per_cpu_s >= 50_000})
    return result
