"""Fault injection for crash tests: ``AUDIOPREP_FAILPOINT=name:N`` SIGKILLs the whole run
(every process of this session: driver, Ray or Beam workers) the N-th time this process reaches the
named point. Unset, ``hit`` costs one dictionary lookup. Points: after_plan, sample_written (a
sample is in a partial shard), shard_published (renamed, before the unit's completion record),
unit_done, before_index (quarantine written, index not yet).
"""
from __future__ import annotations

import os
import signal
from collections import Counter

_SPEC = os.environ.get("AUDIOPREP_FAILPOINT", "")
_NAME, _, _COUNT = _SPEC.partition(":")
_hits: Counter = Counter()


def hit(name: str) -> None:
    if name != _NAME:
        return
    _hits[name] += 1
    if _hits[name] >= int(_COUNT or 1):
        kill_session(os.getsid(0))


def kill_session(session: int) -> None:
    """SIGKILL every process of ``session`` (ourselves last)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == session:  # field 6 of stat: session id
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue
    os.kill(me, signal.SIGKILL)
