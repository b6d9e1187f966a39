"""Wall time, CPU time and peak resident memory of a command's whole process tree.

CPU: this process makes itself a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), so every
process the command starts, even one that daemonizes (Ray's raylet and GCS, Beam's SDK workers),
ends up as our descendant; we reap each one as it exits, and ``getrusage(RUSAGE_CHILDREN)`` then
holds the CPU of the whole tree. Memory: the RSS of every descendant is summed every
``interval`` seconds with psutil and the peak kept (shared pages count once per process, as RSS
does; the sum is therefore an upper bound).
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass, field

import psutil

PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


def become_subreaper() -> bool:
    global _subreaper
    if not _subreaper:
        try:
            _subreaper = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper = False
    return _subreaper


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    processes: int  # distinct processes seen in the tree
    log: str
    peak_by_kind: dict = field(default_factory=dict)  # kind of process -> peak RSS MB (summed per kind)
    cpu_by_kind: dict = field(default_factory=dict)  # kind of process -> CPU s (sampled, summed per kind)
    samples: list = field(default_factory=list)

    def check(self) -> "Measured":
        if self.returncode != 0:
            tail = open(self.log, encoding="utf-8", errors="replace").read()[-4000:]
            raise RuntimeError(f"{' '.join(self.command)} failed ({self.returncode}); log {self.log}:\n{tail}")
        return self


def _reap_others(main_pid: int) -> bool:
    """Reap every exited descendant except ``main_pid``; True when ``main_pid`` has exited."""
    main_done = False
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return main_done
        if info is None:
            return main_done
        if info.si_pid == main_pid:
            # leave it for Popen.wait(); look for others behind it
            main_done = True
            others = [p for p in _zombies() if p != main_pid]
            for pid in others:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            return main_done
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            pass


def _zombies() -> list[int]:
    out = []
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                out.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def run(command: list[str], log: str, cwd: str | None = None, env: dict | None = None, interval: float = 0.2,
        linger: float = 30.0) -> Measured:
    """Run ``command`` to completion and measure its process tree (see the module docstring)."""
    become_subreaper()
    me = psutil.Process()
    cpu_before = _children_cpu()
    seen: set[tuple[int, float]] = set()
    peak = 0
    peak_kind: dict[str, int] = {}
    sampled: dict[tuple[int, float], float] = {}  # last CPU seen per process (misses its last interval)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=False)
        main_exited = False
        returncode = None
        end = None
        kinds: dict[int, str] = {}
        while True:
            total = 0
            per_kind: dict[str, int] = {}
            tree = me.children(recursive=True)
            for child in tree:
                try:
                    rss = child.memory_info().rss
                    if child.pid not in kinds:
                        kinds[child.pid] = _kind(child)
                    ident = (child.pid, child.create_time())
                    seen.add(ident)
                    times = child.cpu_times()
                    sampled[ident] = times.user + times.system
                except psutil.Error:
                    continue
                total += rss
                per_kind[kinds[child.pid]] = per_kind.get(kinds[child.pid], 0) + rss
            peak = max(peak, total)
            for kind, rss in per_kind.items():
                peak_kind[kind] = max(peak_kind.get(kind, 0), rss)
            if not main_exited and _reap_others(proc.pid):
                main_exited = True
            if main_exited and returncode is None:
                returncode = proc.wait()
                end = time.perf_counter()
            if returncode is not None:
                live = [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
                _reap_others(-1)
                if not live:
                    break
                if time.perf_counter() - end > linger:
                    for child in live:  # left behind by the command we started: end them by pid
                        try:
                            child.send_signal(signal.SIGKILL)
                        except psutil.Error:
                            pass
                    time.sleep(0.2)
                    _reap_others(-1)
                    break
            time.sleep(interval)
    cpu = _children_cpu() - cpu_before
    # A process whose parent never waits for it is in nobody's rusage; the sampled CPU catches it
    # (less the last sampling interval of each process): take the larger of the two.
    cpu_sampled = sum(sampled.values())
    cpu = max(cpu, cpu_sampled)
    by_kind = {k: round(v / 2**20, 1) for k, v in sorted(peak_kind.items(), key=lambda kv: -kv[1])}
    cpu_kind: dict[str, float] = {}
    for (pid, _), seconds in sampled.items():
        cpu_kind[kinds.get(pid, "?")] = cpu_kind.get(kinds.get(pid, "?"), 0.0) + seconds
    cpu_kind = {k: round(v, 2) for k, v in sorted(cpu_kind.items(), key=lambda kv: -kv[1])}
    return Measured(command, returncode, end - start, cpu, peak / 2**20, len(seen), log, by_kind, cpu_kind)


def _kind(proc: psutil.Process) -> str:
    """A short name for a process: ``ray::_Processor``, ``raylet``, ``python -m pipelines.cli``..."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    if not cmd:
        return proc.name()
    first = os.path.basename(cmd[0])
    if first.startswith("ray::") or not first.startswith("python"):
        return first.split()[0][:40]
    for i, arg in enumerate(cmd[1:], 1):
        if arg == "-m" and i + 1 < len(cmd):
            return f"python -m {cmd[i + 1]}"[:60]
        if not arg.startswith("-"):
            return f"python {os.path.basename(arg)}"[:60]
    return first
