"""Fault injection for crash tests: ``AUDIOPREP_FAILPOINT=name:N`` SIGKILLs the whole run
(every process of this session: driver, Ray or Beam workers) the N-th time this process reaches the
named point. Unset, ``hit`` costs one dictionary lookup. Points: ingest_task_done (an ingest task's
part is complete), dataset_ingested (a corpus's manifest is complete), after_plan, sample_written (a
sample is in a partial shard), shard_published (renamed, before the unit's completion record),
unit_done, before_index (quarantine written, index not yet).

``name:N:process`` SIGKILLs only the process that reaches the point (a Ray or Beam worker, not the
driver): the engine's own retry is what is tested. With ``AUDIOPREP_FAILPOINT_ONCE=PATH`` it fires
only in the process that creates PATH first, so the retried worker does not die again.
"""
from __future__ import annotations

import os
import signal
from collections import Counter

_SPEC = os.environ.get("AUDIOPREP_FAILPOINT", "")
_NAME, _, _REST = _SPEC.partition(":")
_COUNT, _, _SCOPE = _REST.partition(":")
_hits: Counter = Counter()


def hit(name: str) -> None:
    if name != _NAME:
        return
    _hits[name] += 1
    if _hits[name] < int(_COUNT or 1):
        return
    if _SCOPE == "process":
        if _first_to_fire():
            os.kill(os.getpid(), signal.SIGKILL)
        return
    kill_session(os.getsid(0))


def _first_to_fire() -> bool:
    """True unless AUDIOPREP_FAILPOINT_ONCE names a marker file that another process created first."""
    marker = os.environ.get("AUDIOPREP_FAILPOINT_ONCE")
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


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
