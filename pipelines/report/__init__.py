"""The report stage: what a finished run holds, read without opening a shard.

Enters: a finished run's ``index.json``, ``stats.json``, ``summary.json`` and ``quarantine.jsonl``
(the small files ``finalize`` writes), and optionally a baseline run's same files.
Leaves: the statistics, warnings and comparison as JSON (``audioprep stats --json``, the run's
``report.json``), the same as terminal tables, and a self-contained HTML page with plots.

Modules, in the order the data flows: ``load`` (read the run's files), ``compute`` (the statistics),
``warnings`` (what to act on, with ``Thresholds``), ``compare`` (against a baseline), ``build``
(``build_report``: all of it as one dict), ``tables`` (``Section``, ``Table``, ``Chart``),
``sections`` (the report laid out as sections), ``html`` (the page).
"""
