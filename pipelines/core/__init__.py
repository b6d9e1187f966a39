"""What every stage shares: what a run is, the record, the output's paths, and the I/O they all use.

Not a stage: nothing enters or leaves it; every stage imports it, and it imports no stage (only
``schemas`` and ``tag_builder``). Its modules, from what a run is to how its bytes are kept:
``config`` (RunConfig, EngineOptions) and ``run_config`` (run config files) -> ``record`` (Record,
Drop, the manifest's Arrow schema) -> ``keys`` (sample keys, seeded hashes) -> ``outputs`` (every
path of a run's output) -> ``atomic`` (write, fsync, rename) -> ``remote`` (an s3:// output mirrored
to a local folder) and ``sources`` (s3:// corpus roots) -> ``audio`` (decode, 16 kHz mono, FLAC);
beside them ``fingerprint`` (digests of the code that shapes output), ``failpoints`` (crash tests)
and ``process`` (what entry points set up).
"""
