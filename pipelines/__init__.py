"""audioprep: corpora on disk -> canonical records -> Qwen-Audio multi-task WebDataset shards.

The subpackages are the stages a record travels through, in order (docs/architecture.md):
``ingest`` -> ``plan`` -> ``prepare`` (on an engine of ``runners``) -> ``finalize`` -> ``report``,
over a small shared ``core``. ``workflow`` and ``cli`` start runs. Importing the package changes
nothing in the process (``core.process`` holds what entry points set up).
"""
