"""The prepare stage: one work unit's records into WebDataset shards, the same on every engine.

Enters: the plan (OUT/_work/plan.json), one unit id and that unit's input file, and the corpora's
audio.
Leaves: the unit's shards (``train/shard-UUUUU-PPP.tar`` or ``eval/NAME/SPLIT/shard-UUUUU-PPP.tar``:
each sample a ``.flac`` and a ``.json`` with its task views) and its completion record
(OUT/_work/done/UNIT.json: the shards with their statistics, the records it quarantined).
Modules, in the order a record travels: ``units`` (``UnitProcessor``: what an engine runs per
unit) -> ``stages`` (tag -> check_language -> audio -> srwt, built once, walked per sample) with
``language_check`` (langid verdicts) and ``timestamps`` (the srwt stage, on ``align``'s forced
aligners and ``srwt``'s targets) -> ``shards`` (deterministic tar files) with ``accounting``
(counters per shard).
"""
