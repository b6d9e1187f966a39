"""The machine a measurement runs on: its processor, memory, library versions and commit, and how
busy it is (the load average, other processes' CPU)."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import datetime, timezone

from bench.env import ROOT


def machine() -> dict:
    import psutil

    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in ("numpy", "soundfile", "soxr", "av", "pyarrow", "ray", "apache_beam", "psutil"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - a missing library is reported as such
            versions[name] = None
    try:
        import soundfile

        versions["libsndfile"] = soundfile.__libsndfile_version__
    except Exception:  # noqa: BLE001
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "versions": versions,
        "commit": commit,
    }


def load_now() -> dict:
    load1, load5, _ = os.getloadavg()
    return {"load1": round(load1, 2), "load5": round(load5, 2), "at": datetime.now(timezone.utc).strftime("%H:%M:%S")}


def busy_others(seconds: float = 1.0) -> float:
    """CPU cores used by processes outside this tree over ``seconds`` (a loaded machine skews numbers)."""
    import psutil

    mine = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    procs = [p for p in psutil.process_iter() if p.pid not in mine]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(seconds)
    total = 0.0
    for p in procs:
        try:
            total += p.cpu_percent(None)
        except psutil.Error:
            pass
    return round(total / 100.0, 2)
