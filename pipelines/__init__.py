"""audioprep: corpora on disk -> canonical records -> Qwen-Audio multi-task WebDataset shards."""
