"""Which shards each training rank and each of its dataloader workers reads in an epoch, and how many rows.

Every epoch the set's shards are shuffled from ``(seed, epoch)`` and dealt to the ranks, the largest
first, each to the rank with the fewest rows so far: a rank opens only its own shards, and no shard
is read by two ranks. With ``equal`` (training), every rank yields the same number of rows, the
smallest rank's total: a larger rank leaves its last rows of the epoch out (which rows differ from
epoch to epoch, as the deal does). Without it (evaluation), every row is read exactly once and ranks
may differ by a shard's worth. A rank's shards are dealt to its workers the same way, and the
rank's rows are split over them as evenly as their shards allow.

Resuming: ``rows_consumed`` tells, for a rank that has consumed ``start`` rows through a
``torch.utils.data.DataLoader`` of ``batch_size``, how many rows each worker had delivered: the
DataLoader takes whole batches from the workers in turn, passing over a worker that is exhausted.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.reader.shards import ShardEntry


@dataclass(frozen=True)
class WorkerPlan:
    """The shards one worker reads, in order, with their row counts, and the rows it yields (``quota``)."""

    shards: tuple[tuple[ShardEntry, int], ...]
    quota: int


def _deal(items: list[tuple[ShardEntry, int]], bins: int) -> list[list[tuple[ShardEntry, int]]]:
    """Largest first (ties in the given order) onto the bin with the fewest rows (ties: the lowest)."""
    dealt: list[list[tuple[ShardEntry, int]]] = [[] for _ in range(bins)]
    totals = [0] * bins
    for item in sorted(items, key=lambda pair: -pair[1]):
        target = min(range(bins), key=lambda b: (totals[b], b))
        dealt[target].append(item)
        totals[target] += item[1]
    return dealt


def _shuffled(items: list, seed: str) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def _split_quota(totals: list[int], quota: int) -> list[int]:
    """Per-worker rows summing to ``quota``, each at most its total, as equal as the totals allow."""
    low, high = 0, max(totals, default=0)  # the smallest level whose capped totals reach the quota
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if sum(min(t, middle) for t in totals) < quota else (low, middle)
    level = low
    shares = [min(t, level) for t in totals]
    excess = sum(shares) - quota
    for w in reversed(range(len(shares))):
        if excess and shares[w] == level and level:
            shares[w] -= 1
            excess -= 1
    return shares


def epoch_plan(
    shards: list[tuple[ShardEntry, int]], *, rank: int, world_size: int, num_workers: int, seed: int, epoch: int, equal: bool
) -> list[WorkerPlan]:
    """The plan of every worker of ``rank`` for ``epoch``; ``shards`` are (shard, rows) pairs."""
    if not 0 <= rank < world_size or num_workers < 1:
        raise ValueError(f"rank {rank} of world size {world_size} with {num_workers} worker(s) is not a valid split")
    ordered = sorted(shards, key=lambda pair: pair[0].path)
    per_rank = _deal(_shuffled(ordered, f"{seed}/{epoch}"), world_size)
    totals = [sum(rows for _, rows in dealt) for dealt in per_rank]
    if equal and sum(totals) and not min(totals):
        raise ValueError(
            f"{len(shards)} shard(s) with rows cannot give each of {world_size} ranks the same rows: some rank would "
            "get none (make training shards a multiple of the ranks: shards: {multiple_of: N} in the run config)"
        )
    quota = min(totals) if equal else totals[rank]
    mine = _shuffled(per_rank[rank], f"{seed}/{epoch}/{rank}")
    per_worker = _deal(mine, num_workers)
    for dealt in per_worker:  # the deal sorts by size: each worker reads its shards in shuffled order again
        dealt[:] = [pair for pair in mine if pair in dealt]
    worker_totals = [sum(rows for _, rows in dealt) for dealt in per_worker]
    shares = _split_quota(worker_totals, quota)
    return [WorkerPlan(tuple(dealt), share) for dealt, share in zip(per_worker, shares)]


def rows_consumed(quotas: list[int], start: int, batch_size: int) -> list[int]:
    """Rows each worker had delivered when a DataLoader with ``batch_size`` had handed out ``start`` rows."""
    if start < 0 or batch_size < 1:
        raise ValueError(f"start {start} and batch size {batch_size} must be >= 0 and >= 1")
    delivered = [0] * len(quotas)
    consumed, worker = 0, 0
    while consumed < start:
        active = [w for w in range(len(quotas)) if delivered[w] < quotas[w]]
        if not active:
            raise ValueError(f"start {start} is past the epoch's {sum(quotas)} rows")
        while delivered[worker] >= quotas[worker]:
            worker = (worker + 1) % len(quotas)
        batch = min(batch_size, quotas[worker] - delivered[worker])
        delivered[worker] += batch
        consumed += batch
        worker = (worker + 1) % len(quotas)
    if consumed != start:
        raise ValueError(f"start {start} falls inside a batch of {batch_size}: resume from a count of whole batches")
    return delivered
