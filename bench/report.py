"""The benchmark's report: ``results.md``, the tables of one measurement's ``results.json``."""
from __future__ import annotations


def fmt(value, digits=2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(results: dict) -> str:
    lines = _header(results) + _throughput(results) + _derived(results) + _memory(results) + _cpu_by_kind(results)
    lines += _lhotse(results)
    lines += ["", "See bench/README.md for what each run does and where the time goes.", ""]
    return "\n".join(lines)


def _header(r: dict) -> list[str]:
    """The machine, the load, the corpus, and the targets with their verdicts."""
    lines = [f"# audioprep benchmark ({r['started']})", ""]
    m = r["machine"]
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; commit {m['commit']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".",
        f"lhotse side: {r.get('lhotse_env') or 'not run'}.",
        f"Load: {r['load']['start']} at start, {r['load'].get('end')} at end; "
        f"{'**the machine was loaded by other work while measuring**' if r['loaded'] else 'machine otherwise idle'}"
        f" (other processes' cores in use before each run: {r['load']['busy_others_max']} at most).",
        f"Corpus: {r['corpus']['hours']} h requested, {r['corpus']['audio_h']:.3f} h in {r['corpus']['clips']} clips "
        "(a third each 16 kHz mono FLAC, 44.1 kHz stereo WAV, 48 kHz stereo MP3), "
        f"shards of {r['shard_samples']} samples.",
        "",
        "## Targets",
        "",
        "| target | value | goal | met |",
        "|---|---:|---:|---|",
    ]
    for t in r["targets"]:
        met = "yes" if t["met"] else ("no" if t["met"] is False else "-")
        lines.append(f"| {t['name']} | {fmt(t['value'])} | {t['goal']} | {met} |")
    return lines


def _throughput(r: dict) -> list[str]:
    """The runs on the 1x corpus, the machine's speed around them, the codec bound per format, ingest."""
    lines = [
        "",
        "## Throughput (1x corpus)",
        "",
        "| run | wall s | CPU s (tree) | audio h / wall h | audio s / CPU s | codec loop around it (audio s / CPU s) "
        "| ratio to codec bound | as measured | shard MB/s | peak RSS MB (tree) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["runs"]:
        around = " / ".join(fmt(v, 0) for v in row.get("bound_speeds", [])) or "-"
        lines.append(
            f"| {row['name']} | {fmt(row['wall_s'])} | {fmt(row['cpu_s'])} | {fmt(row['audio_h_per_wall_h'], 0)} | "
            f"{fmt(row['audio_s_per_cpu_s'], 0)} | {around} | {fmt(row['efficiency'])} | {fmt(row.get('efficiency_start'))} | "
            f"{fmt(row['shard_mb_per_s'], 1)} | {fmt(row['peak_rss_mb'], 0)} |"
        )
    speed = r.get("machine_speed") or {}
    if speed:
        lines += ["", f"Machine speed: the codec loop ran {speed['passes']} more passes, one between every two runs, at "
                  f"{fmt(speed['min'], 0)}-{fmt(speed['max'], 0)} audio s per CPU s ({speed['spread']:.0%} apart; the bound "
                  f"below is {fmt(speed['bound'], 0)}). *Ratio to codec bound* compares a run with the faster of the passes "
                  "just before and after it; *as measured* with the bound from the start. Derived figures and targets "
                  "count each run's CPU and wall seconds at the bound's speed (bench/README.md, \"Machine speed\")."]
    lines += ["", "Codec bound per source format (in-loop CPU):", "",
              "| source | files | audio s | CPU s | audio s / CPU s |", "|---|---:|---:|---:|---:|"]
    for ext, f in r["codec_bound"]["formats"].items():
        lines.append(f"| {ext} | {f['files']} | {fmt(f['seconds'], 1)} | {fmt(f['cpu_s'])} | {fmt(f['x_per_cpu_s'], 0)} |")
    ing = r["ingest"]
    lines += [
        "",
        f"Ingest: {ing['records']:,} records in {ing['wall_s']:.2f} s = **{ing['records_per_s']:,.0f} records/s** "
        f"({ing['records_per_cpu_s']:,.0f} per CPU second, one process; {ing['how']}). Every pass, records per CPU second: "
        + ", ".join(f"{v:,.0f}" for v in ing.get("passes_records_per_cpu_s", [])) + ".",
    ]
    return lines


def _derived(r: dict) -> list[str]:
    """Efficiency, 2-worker scaling and memory growth per engine, corrected for the machine's speed and as measured."""
    lines = []
    for key, title in (("derived", "## Derived, per engine (2 workers; \"steady\" = the extra audio between the smallest "
                                   "and the largest corpus, where start-up and other fixed costs cancel)"),
                       ("derived_uncorrected", "## The same, as measured (no correction for the machine's speed)")):
        if not r.get(key):
            continue
        sizes = sorted({k for d in r[key].values() for k in d["efficiency"] if k != "steady"}, key=lambda k: int(k[:-1]))
        lines += ["", title, "",
                  "| engine | " + " | ".join(f"efficiency {k}" for k in sizes) + " | efficiency steady | "
                  + " | ".join(f"2w/1w {k}" for k in sizes) + " | 2w/1w steady | peak RSS growth |",
                  "|---|" + "---:|" * (2 * len(sizes) + 3)]
        for engine, d in r[key].items():
            cells = [fmt(d["efficiency"].get(k)) for k in sizes] + [fmt(d["efficiency"].get("steady"))]
            cells += [fmt(d["scaling_2_workers"].get(k)) for k in sizes] + [fmt(d["scaling_2_workers"].get("steady"))]
            growth = d.get("peak_rss_growth")
            cells.append("-" if growth is None else f"{growth:+.1%}")
            lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    codec = r["codec_bound"]
    if r.get("derived") and codec.get("measures_cpu_s"):
        sizes = sorted({k for d in r["derived"].values() for k in d["efficiency_work"] if k != "steady"}, key=lambda k: int(k[:-1]))
        lines += ["", "## Against the work bound", "",
                  f"The codec loop also measured, apart, the quality metrics and the PCM hash the audio stage computes "
                  f"for every clip: {fmt(codec['measures_cpu_s'])} CPU s beside the loop's {fmt(codec['cpu_s'])} "
                  f"({codec['measures_cpu_s'] / codec['cpu_s']:.1%}). Against the two together (the work every engine "
                  "must do for a clip), a run's remaining CPU is the pipeline's own: start-up, ingest, tags, language "
                  "check, tar and JSON, the engine.", "",
                  "| engine | " + " | ".join(f"efficiency {k}" for k in sizes) + " | efficiency steady |",
                  "|---|" + "---:|" * (len(sizes) + 1)]
        for engine, d in r["derived"].items():
            cells = [fmt(d["efficiency_work"].get(k)) for k in [*sizes, "steady"]]
            lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    return lines


def _memory(r: dict) -> list[str]:
    """The runs on the larger corpora."""
    if not r.get("scaling"):
        return []
    lines = ["", "## Memory against corpus size", "",
             "| engine | workers | size | audio h | wall s | CPU s | audio s / CPU s | peak RSS MB (tree) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for row in r["scaling"]:
        lines.append(
            f"| {row['engine']} | {row['workers']} | {row['scale']} | {fmt(row['audio_s'] / 3600, 2)} | {fmt(row['wall_s'])} | "
            f"{fmt(row['cpu_s'])} | {fmt(row['audio_s_per_cpu_s'], 0)} | {fmt(row['peak_rss_mb'], 0)} |"
        )
    return lines


def _cpu_by_kind(r: dict) -> list[str]:
    """CPU per kind of process of each engine's 2-worker run on the largest corpus."""
    largest = {}
    for row in r.get("scaling") or []:
        if row["workers"] == 2 and row.get("cpu_s_by_kind") and (
                row["engine"] not in largest or int(row["scale"][:-1]) > int(largest[row["engine"]]["scale"][:-1])):
            largest[row["engine"]] = row
    if not largest:
        return []
    lines = ["", "## CPU by kind of process (2 workers, the largest corpus)", "",
             "Sampled per process every 0.2 s (a process's last interval is missed), so the sum is a little "
             "below the tree's CPU.", "",
             "| engine | size | codec bound CPU s for this audio | process | CPU s |", "|---|---|---:|---|---:|"]
    codec = r["codec_bound"]
    for engine, row in largest.items():
        bound = row["audio_s"] / row.get("bound_speed", codec["audio_s_per_cpu_s"])  # at the speed around the run
        for kind, seconds in row["cpu_s_by_kind"].items():
            if seconds >= 0.05:
                lines.append(f"| {engine} | {row['scale']} | {fmt(bound, 1)} | `{kind}` | {fmt(seconds)} |")
    return lines


def _lhotse(r: dict) -> list[str]:
    """Each lhotse run beside ours on the same corpus with as many jobs as workers."""
    if not r.get("lhotse_runs"):
        return []
    lines = ["", "## lhotse on the same work", "",
             "| size | lhotse jobs | lhotse wall s | lhotse CPU s | ours | our wall s | our CPU s | wall ratio (ours / lhotse) "
             "| as measured | CPU ratio | as measured |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for c in r["lhotse_comparison"]:
        lines.append(
            f"| {c['scale']} | {c['jobs']} | {fmt(c['lhotse_wall_s'])} | {fmt(c['lhotse_cpu_s'])} | {c['ours']} | "
            f"{fmt(c['our_wall_s'])} | {fmt(c['our_cpu_s'])} | {fmt(c['wall_ratio'])} | {fmt(c.get('wall_ratio_uncorrected'))} | "
            f"{fmt(c['cpu_ratio'])} | {fmt(c.get('cpu_ratio_uncorrected'))} |"
        )
    return lines
