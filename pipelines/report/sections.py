"""The report of ``build_report`` laid out as ``Section``s, in reading order: overview, warnings, the
comparison with a baseline, tasks, languages, corpora, splits, tag sequences, labels, histograms, the
language check, flags, quarantine, overlaps between corpora and licences. The terminal and the HTML page both show these, so
the two never disagree."""
from __future__ import annotations

from pipelines.core import outputs
from pipelines.prepare.accounting import NO_SPEECH
from pipelines.report.compare import CORPUS_FIELDS, TASK_FIELDS
from pipelines.report.compute import in_hours
from pipelines.report.tables import Chart, Section, Table, count_cell, hours_cell

#: Labels of one task its chart shows, the most used first; the table lists them all.
CHART_LABELS = 40
#: Column names of the compared fields that are not their own name.
CHANGE_COLUMNS = {"seconds": "hours", "train_seconds": "training h"}


def sections(report: dict, top: int = 20) -> list[Section]:
    """The report as sections of tables (terminal and HTML) and charts (HTML only), in reading order;
    ``top``: how many tag sequences their table shows."""
    result = [_overview(report), _warnings(report)]
    if "compare" in report:
        result.append(_compare_section(report["compare"]))
    return [
        *result,
        _tasks(report),
        _language_section(report, "audio_languages", "Audio languages"),
        _language_section(report, "text_languages", "Text languages"),
        _corpora(report),
        _splits(report),
        _tag_sequences(report, top),
        _labels(report),
        _histogram_section("durations", "Duration per corpus", report["durations"], report["duration_buckets"],
                           "seconds", "samples per duration"),
        _histogram_section("target_lengths", "Target length per task", report["target_lengths"],
                           report["target_length_buckets"], "characters", "views per target length"),
        _quality(report),
        _language_check(report),
        *_flags(report),
        _quarantine(report),
        _overlaps(report),
        _licences(report),
    ]


def _overview(report: dict) -> Section:
    run = report["run"]
    table = Table("this run", ["", "value"], [
        ["records in", count_cell(run["input"])],
        ["samples written", count_cell(run["samples"])],
        ["records quarantined", count_cell(run["quarantined"])],
        ["records left out by corpus weighting", count_cell(run["excluded"])],
        ["task views", count_cell(run["views"])],
        ["shards (training)", f"{run['shards']:,} ({run['train_shards']:,})"],
        ["hours", hours_cell(run["seconds"])],
        ["training hours", hours_cell(run["train_seconds"])],
        ["every record accounted for", "yes" if run["balanced"] else "NO"],
    ])
    missing = report["not_measured"]
    note = f"not measured in this run (written before they were counted): {', '.join(missing)}" if missing else ""
    return Section("overview", "Overview", note, [table])


def _warnings(report: dict) -> Section:
    warnings = report["warnings"]
    title = f"Warnings ({len(warnings)})"
    if not warnings:
        return Section("warnings", title, "none: every threshold holds")
    rows = [[w["kind"], w["subject"], w["message"]] for w in warnings]
    return Section("warnings", title, "", [Table("warnings", ["kind", "subject", "what to look at"], rows, "lll")])


def _tasks(report: dict) -> Section:
    tasks = report["tasks"]
    columns = ["task", "samples", "views", "audio h", "view h", "training audio h", "mean target chars"]
    rows = [
        [t, count_cell(r["samples"]), count_cell(r["views"]), hours_cell(r["seconds"]), hours_cell(r["view_seconds"]),
         hours_cell(r["train_seconds"]), "–" if r["mean_target_chars"] is None else f"{r['mean_target_chars']:.1f}"]
        for t, r in tasks.items()
    ]
    chart = Chart("audio hours per task", "bars", list(tasks), {
        "train": [in_hours(r["train_seconds"] or 0) for r in tasks.values()],
        "eval": [in_hours((r["seconds"] or 0) - (r["train_seconds"] or 0)) for r in tasks.values()],
    }, "hours")
    note = ("audio hours count each clip once per task; view hours count it once per view "
            "(a clip with five captions is five views)")
    table = Table("hours and samples per task", columns, rows)
    return Section("tasks", "Tasks", note, [table], [chart] if tasks else [])


def _share_bars(title: str, rows: dict[str, dict], unit: str = "hours") -> Chart:
    names = sorted(rows, key=lambda k: (-rows[k]["seconds"], k))
    return Chart(title, "bars", names, {
        "train": [in_hours(rows[n]["train_seconds"]) for n in names],
        "eval": [in_hours(rows[n]["eval_seconds"]) for n in names],
    }, unit)


def _language_section(report: dict, key: str, title: str) -> Section:
    rows = report[key]
    if not rows:
        return Section(key, title, "not measured: this run was written before languages were counted")

    def name(language: str) -> str:
        return "none (no speech)" if key == "audio_languages" and language == NO_SPEECH else language

    table = Table(title, ["language", "samples", "hours", "train h", "eval h"], [
        [name(k), count_cell(r["samples"]), hours_cell(r["seconds"]), hours_cell(r["train_seconds"]),
         hours_cell(r["eval_seconds"])]
        for k, r in rows.items()
    ])
    note = ""
    if key == "text_languages":
        note = ("the language of the targets (slot L of the prompt): a clip with a transcript and a translation "
                "counts in both")
    return Section(key, title, note, [table], [_share_bars(f"{title}: hours", rows)])


def _corpora(report: dict) -> Section:
    corpora = report["corpora"]
    columns = ["corpus", "input", "written", "quarantined", "rate", "left out", "samples", "hours", "train h", "eval h"]
    rows = [
        [n, count_cell(r["input"]), count_cell(r["written"]), count_cell(r["quarantined"]),
         f"{r['quarantined'] / r['input']:.1%}" if r["input"] else "–", count_cell(r["excluded"]),
         count_cell(r["samples"]), hours_cell(r["seconds"]), hours_cell(r["train_seconds"]),
         hours_cell(r["eval_seconds"])]
        for n, r in corpora.items()
    ]
    note = ("input = written + quarantined + left out by corpus weighting; "
            "samples include the repeats weighting makes")
    charts = [_share_bars("hours per corpus", corpora)] if corpora else []
    return Section("corpora", "Corpora", note, [Table("records and hours per corpus", columns, rows)], charts)


def _splits(report: dict) -> Section:
    columns = ["corpus", "split", "role", "samples", "hours", "in training shards", "in evaluation shards"]
    rows = [
        [d, s, r["role"] or "–", count_cell(r["samples"]), hours_cell(r["seconds"]), count_cell(r["in_train_shards"]),
         count_cell(r["in_eval_shards"])]
        for d, splits in report["splits"].items() for s, r in splits.items()
    ]
    note = "role is what the schema declares; the shard columns say where the samples are"
    return Section("splits", "Splits", note, [Table("samples per split", columns, rows, "lllrrrr")])


def _tag_sequences(report: dict, top: int) -> Section:
    sequences = report["tag_sequences"]
    rows = [
        [r["prompt"], ", ".join(r["tasks"]) or "–", count_cell(r["views"]), str(r["tokens"]),
         "ok" if r["in_vocabulary"] else f"NOT IN VOCABULARY: {r['problem']}"]
        for r in sequences[:top]
    ]
    note = (f"the {min(top, len(sequences))} most used of {len(sequences)}; "
            "each is split into special tokens and checked against the closed vocabulary")
    table = Table("top tag sequences", ["tag sequence", "task", "views", "tokens", "vocabulary"], rows, "llrrl")
    return Section("tag_sequences", "Tag sequences", note, [table])


def _labels(report: dict) -> Section:
    tables, charts = [], []
    for task, labels in report["labels"].items():
        ordered = sorted(labels, key=lambda k: (-labels[k]["views"], k))
        views = sum(r["views"] for r in labels.values())
        rows = [
            [k, count_cell(labels[k]["views"]), count_cell(labels[k]["train"]), count_cell(labels[k]["eval"]),
             f"{labels[k]['views'] / views:.1%}"]
            for k in ordered
        ]
        columns = ["label", "examples", "training", "evaluation", "share"]
        tables.append(Table(f"labels of {task} ({len(labels)})", columns, rows))
        shown = ordered[:CHART_LABELS]
        more = f" (top {CHART_LABELS} of {len(ordered)})" if len(ordered) > CHART_LABELS else ""
        charts.append(Chart(f"labels of {task}{more}", "bars", shown, {
            "train": [labels[k]["train"] for k in shown],
            "eval": [labels[k]["eval"] for k in shown],
        }, "examples"))
    note = "" if report["labels"] else "no classification task in this run"
    return Section("labels", "Labels of classification tasks", note, tables, charts)


def _histogram_section(id_: str, title: str, data: dict, buckets: list[str], unit: str, what: str) -> Section:
    if not data:
        return Section(id_, title, "not measured: this run was written before histograms were counted")
    used = [b for b in buckets if any(b in row for row in data.values())]
    first, last = buckets.index(used[0]), buckets.index(used[-1])
    shown = buckets[first:last + 1]
    rows = [[k, *[count_cell(row.get(b, 0)) for b in shown]] for k, row in data.items()]
    table = Table(f"{what} ({unit})", ["", *shown], rows)
    chart = Chart(f"{title.lower()} ({unit})", "histograms", shown,
                  {k: [row.get(b, 0) for b in shown] for k, row in data.items()}, what.split()[0])
    return Section(id_, title, f"buckets are [low, high) {unit}", [table], [chart])


def _quality(report: dict) -> Section:
    """Hours before and after the quality filters, then each metric's histogram per corpus (docs/quality.md)."""
    title, filters, measured = "Quality", report.get("quality_filters", {}), report.get("quality", {})
    if not measured:
        return Section("quality", title, "not measured: this run was written before quality was measured")
    tables = []
    if filters:
        tables.append(Table("quality filters: hours before and after", [
            "corpus", "hours before", "filtered h", "hours after", "samples filtered", "by reason",
        ], [
            [d, hours_cell(r["seconds_before"]), hours_cell(r["filtered_seconds"]), hours_cell(r["seconds_after"]),
             count_cell(r["filtered_samples"]), ", ".join(f"{k} {v:,}" for k, v in r["by_reason"].items())]
            for d, r in filters.items()
        ], "lrrrrl"))
    charts = []
    for metric, buckets in report["quality_buckets"].items():
        data = {d: metrics[metric] for d, metrics in measured.items() if metric in metrics}
        if not data:
            continue
        used = [b for b in buckets if any(b in row for row in data.values())]
        shown = buckets[buckets.index(used[0]):buckets.index(used[-1]) + 1]
        tables.append(Table(f"samples per {metric}", ["corpus", *shown],
                            [[d, *[count_cell(row.get(b, 0)) for b in shown]] for d, row in data.items()]))
        charts.append(Chart(f"{metric} per corpus", "histograms", shown,
                            {d: [row.get(b, 0) for b in shown] for d, row in data.items()}, "samples"))
    note = ("measured on every written clip; buckets are [low, high); SNR and speaking rate only for speech"
            + ("" if filters else "; no sample was refused by a quality filter"))
    return Section("quality", title, note, tables, charts)


def _language_check(report: dict) -> Section:
    check = report["language_check"]
    title = "Declared vs detected language"
    if not check["measured"]:
        note = "not measured: no sample of this run carries a detected language (no language identification ran on it)"
        return Section("language_check", title, note)
    rows = [
        [d, declared, heard, count_cell(n)]
        for d, by in check["by_dataset"].items() for declared, found in by.items() for heard, n in sorted(found.items())
    ]
    verdicts = [
        [d, text, verdict, count_cell(n)]
        for d, by in check["verdicts"].items() for text, found in by.items() for verdict, n in sorted(found.items())
    ]
    tables = [Table("declared vs detected language", ["corpus", "declared", "detected", "samples"], rows, "lllr")]
    if verdicts:
        columns = ["corpus", "text", "verdict", "samples"]
        tables.append(Table("verdicts of the language check", columns, verdicts, "lllr"))
    note = (f"language identification of the transcripts: {check['mismatched']:,} of {check['checked']:,} checked "
            "samples read as another language than their declared text language "
            "(confident mismatches are quarantined, so these are short or uncertain)")
    return Section("language_check", title, note, tables)


def _flags(report: dict) -> list[Section]:
    """The section of samples kept with a flag, or none when no sample has one."""
    flagged = [[d, flag, count_cell(n)] for d, flags in report["flags"].items() for flag, n in flags.items()]
    if not flagged:
        return []
    table = Table("flagged samples", ["corpus", "flag", "samples"], flagged, "llr")
    return [Section("flags", "Kept with a flag", "samples written to the shards but worth a look", [table])]


def _quarantine(report: dict) -> Section:
    quarantine = report["quarantine"]
    if not quarantine:
        return Section("quarantine", "Quarantine", "no record was quarantined")
    rows = [[q["dataset"], q["stage"], q["reason"], count_cell(q["records"]), q["example"]] for q in quarantine]
    columns = ["corpus", "stage", "reason", "records", "example"]
    table = Table("quarantined records per corpus, stage and reason", columns, rows, "lllrl")
    stages = sorted({q["stage"] for q in quarantine})
    by_corpus = sorted({q["dataset"] for q in quarantine})
    chart = Chart("quarantined records per corpus and stage", "bars", by_corpus, {
        stage: [sum(q["records"] for q in quarantine if q["dataset"] == c and q["stage"] == stage) for c in by_corpus]
        for stage in stages
    }, "records")
    note = f"every refused record is a row of {outputs.QUARANTINE}"
    return Section("quarantine", "Quarantine", note, [table], [chart])


def _pairs_table(title: str, pairs: dict | None, what: str) -> Table:
    rows = [[pair, count_cell(n)] for pair, n in sorted(pairs.items())] if pairs else [["none", "0"]]
    if pairs is None:
        rows = [["not measured (a run written before this was counted)", "–"]]
    return Table(title, ["corpora", what], rows, "lr")


def _overlaps(report: dict) -> Section:
    """Evaluation leaks kept out, training copies of one origin, and audio written twice."""
    overlaps = report["overlaps"]
    duplicate = overlaps["duplicate_audio"]
    tables = [
        _pairs_table("training records kept out as evaluation clips (training <- evaluation)", overlaps["eval_leaks"], "records"),
        _pairs_table("training records of one origin in two places (kept)", overlaps["train_repeats"], "records"),
        _pairs_table("identical audio written twice (role corpus = role corpus)",
                     None if duplicate is None else duplicate["pairs"], "clips"),
    ]
    if duplicate and duplicate["examples"]:
        tables.append(Table(f"identical audio: the first {len(duplicate['examples'])} of {duplicate['groups']}",
                            ["pcm_sha256", "samples"],
                            [[e["pcm_sha256"][:16], ", ".join(e["samples"])] for e in duplicate["examples"]], "ll"))
    note = ("origins (schemas' origin) find the same source clip cut or encoded differently; the PCM hash finds "
            "bit-identical audio only. `audioprep verify --duplicates` lists every clip written twice")
    return Section("overlaps", "Overlaps between corpora", note, tables)


def _licences(report: dict) -> Section:
    licenses = report["licenses"]
    if not licenses:
        return Section("licenses", "Licences", "")
    table = Table("hours per licence", ["licence", "corpora", "samples", "hours", "training h"], [
        [k, ", ".join(r["datasets"]), count_cell(r["samples"]), hours_cell(r["seconds"]),
         hours_cell(r["train_seconds"])]
        for k, r in licenses.items()
    ], "llrrr")
    chart = Chart("hours per licence", "bars", list(licenses), {
        "train": [in_hours(r["train_seconds"]) for r in licenses.values()],
        "eval": [in_hours(r["seconds"] - r["train_seconds"]) for r in licenses.values()],
    }, "hours")
    return Section("licenses", "Licences", "", [table], [chart])


def _compare_section(change: dict) -> Section:
    tables, charts = [], []
    for key, title, fields in (("tasks", "task", TASK_FIELDS), ("corpora", "corpus", CORPUS_FIELDS)):
        rows = change[key]
        tables.append(_change_table(title, fields, rows))
        charts.append(Chart(f"hours per {title}: before and after", "bars", list(rows), {
            "before": [in_hours(r["seconds"]["before"]) for r in rows.values()],
            "after": [in_hours(r["seconds"]["after"]) for r in rows.values()],
        }, "hours", stacked=False))
    sequences = change["tag_sequences"]
    tables.append(Table("tag sequences that changed", ["tag sequence", "status", "views before", "views after"], [
        *[[p, "new", "0", count_cell(v)] for p, v in sequences["new"].items()],
        *[[p, "vanished", count_cell(v), "0"] for p, v in sequences["vanished"].items()],
        *[[p, "changed", count_cell(v["before"]), count_cell(v["after"])] for p, v in sequences["changed"].items()],
    ], "llrr"))
    tables.append(Table("label shifts", ["task", "label", "before", "after", "share before", "share after"], [
        [task, label, count_cell(r["before"]), count_cell(r["after"]),
         f"{r['share_before']:.1%}", f"{r['share_after']:.1%}"]
        for task, labels in change["labels"].items() for label, r in labels.items()
    ], "llrrrr"))
    note = "before = the run given to --compare, after = this run"
    return Section("compare", "Compared with the baseline run", note, tables, charts)


def _change_table(title: str, fields: tuple[str, ...], rows: dict[str, dict]) -> Table:
    """Per task or corpus: each field before, after, and the signed change."""
    columns = [title]
    for f in fields:
        name = CHANGE_COLUMNS.get(f, f)
        columns += [f"{name} before", f"{name} after", "change"]
    cells = [[key, *[cell for f in fields for cell in _change_cells(f, row[f])]] for key, row in rows.items()]
    return Table(f"per {title}: before → after", columns, cells)


def _change_cells(field: str, values: dict) -> list[str]:
    """Before, after and the signed change of one field: hours for the seconds fields, else a count."""
    if "seconds" in field:
        change = _signed(values["change"] / 3600, lambda v: f"{v:,.3f}")
        return [hours_cell(values["before"]), hours_cell(values["after"]), change]
    change = _signed(values["change"], lambda v: f"{int(v):,}")
    return [count_cell(values["before"]), count_cell(values["after"]), change]


def _signed(value: float, fmt) -> str:
    text = fmt(abs(value))
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else "0")
