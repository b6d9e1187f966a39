"""audioprep: corpora on disk -> canonical records -> Qwen-Audio multi-task WebDataset shards.

Importing the package makes the C library's allocator Arrow's default in this process and in the
processes it starts (``ARROW_DEFAULT_MEMORY_POOL=system``, unless the environment already chooses
one; it only takes effect where pyarrow is imported after this package). Arrow's own default,
mimalloc, kept the pages of planning's short-lived buffers (a batch of manifest rows at a time)
resident for the rest of a run, more of them the larger the corpus: ~40 MB of a Beam run's ~300 MB
at 32 h of audio (bench/README.md, "Memory").
"""
import os

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
