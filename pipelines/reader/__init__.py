"""The training reader: a finished run's shards in, rows for a training loop out.

Enters: a run's output folder (or ``s3://`` prefix) and a set (``train``, ``eval/NAME/SPLIT``).
Leaves: ``Example`` rows (key, 16 kHz waveform, prompt, target, optional Whisper log-mel features),
split by rank and dataloader worker without overlap, reshuffled per epoch, resumable
(``pipelines.reader.dataset.AudioReader``; docs/exports.md).
"""
