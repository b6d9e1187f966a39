"""Qwen-Audio task tags: the closed token vocabulary, the task registry and prompt building."""
