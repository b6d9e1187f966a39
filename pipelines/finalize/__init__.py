"""The finalize stage: a run's completion records in; its index, summary and quarantine out.

Enters: the plan and every unit's completion record (OUT/_work/), the drops of ingest and planning;
to verify and publish, the shards and the run's report.
Leaves, in OUT: ``index.json`` (every shard; ``train/index.json`` and ``eval/index.json`` per role),
``summary.json`` (input = written + quarantined + excluded by weighting, overall and per dataset),
``quarantine.jsonl`` and ``stats.json``; a verification report of every shard read back against
them; and, once published, ``complete.json`` there and where the run was published to.
Modules, in order: ``collect`` (``finalize``: the records merged) -> ``verify`` (every shard re-read)
-> ``publish`` (index and report copied, the run marked complete).
"""
