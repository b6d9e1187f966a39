"""``python -m pipelines.cli``: the ``audioprep`` command (as bench/run.py starts it)."""
from pipelines.cli import main

if __name__ == "__main__":
    main()
