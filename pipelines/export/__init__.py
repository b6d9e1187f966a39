"""Exports: a finished run's shards in, files a training or evaluation framework reads out.

Enters: a run's output (folder or ``s3://``), a format and a destination (folder or ``s3://``).
Leaves: JSONL rows per set in the format's shape (Qwen-Audio's evaluation scripts, ms-swift,
LLaMA-Factory with its ``dataset_info.json``, ChatML text) and the audio as FLAC files under
``audio/``, one per distinct clip (``pipelines.export.command.export``; docs/exports.md).
"""
