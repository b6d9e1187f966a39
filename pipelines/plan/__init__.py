"""The plan stage: a run's configuration in, its work units out.

Enters: a ``RunConfig`` (datasets with their schemas and roots, weights, seed, shard bounds). Its
first step ingests every dataset into its Parquet manifest (``pipelines.ingest``); a plan already in
OUT for the same work is reused instead.
Leaves, in OUT/_work/: ``plan.json`` (the ``Plan``: the configuration as the workers read it, the
unit ids, inputs, drops and exclusions per dataset, the planned mix), one input file per work unit
(``units/UNIT.jsonl``: its records, repeats made by weighting included, each with its shuffle
rank) and ``plan.drops.jsonl`` (the duplicates it quarantined).
Modules, in the order planning runs: ``planner`` (``make_plan``, the steps) -> ``weights`` (copies
of each training record) -> ``partition`` (records into unit files) with ``duplicates`` (the first
occurrence wins); ``model`` holds the ``Plan`` as written and read.
"""
