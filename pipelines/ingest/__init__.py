"""The ingest stage: a dataset's schema + its corpus root (and the extra roots the schema declares)
-> its records or drops, streaming; no audio is decoded, except to cut long speech at pauses (vad).

What leaves: every metadata row as exactly one record or one drop (``corpus.ingest``), written as the
dataset's Parquet manifest ``manifests/NAME.parquet`` and its drops file ``NAME.drops.jsonl`` in the
run's ingest work folder (``manifest.ingest_dataset``; ``pool.ingest_all`` ingests a run's datasets).
A dataset is read in tasks (``tasks``: slices of its metadata files), each written as a part by
whatever runs it (``part.TaskRunner``: an engine's worker, a pool's process) and merged in task
order (``merge``); docs/architecture.md, "Ingest tasks". Modules, in the order a row travels:

layouts/ -> rows -> joins -> audio_index -> mapping (batch, wordtimes, text/, guards) -> corpus -> windows (vad)
-> part -> merge -> manifest (tasks: the listing; pool: every dataset)

(``refusals``: the stage's name and the exception a rule raises; ``examples``: the schemas' worked
examples, run through ``mapping``.)
"""
