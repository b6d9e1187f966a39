"""Publish a verified run: its index and report where the run says, then mark the run complete.

``complete.json`` is written last, in OUT and in the destination, so a consumer that waits for it
never reads a half-published run. It holds no time stamp: publishing the same run again finds
every file already as it should be and rewrites nothing.
"""
from __future__ import annotations

import hashlib
import os

from pipelines.core import outputs
from pipelines.core.atomic import dumps, read_json, write_bytes, write_json_if_changed
from pipelines.core.remote import Mirror


class PublishError(RuntimeError):
    pass


def _sha256(value) -> str:
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def _copy_if_changed(source: str, target: str) -> None:
    with open(source, "rb") as handle:
        data = handle.read()
    if os.path.isfile(target):
        with open(target, "rb") as handle:
            if handle.read() == data:
                return
    write_bytes(target, data)


def publish(out: str, destination: str | None = None, remote: str | None = None) -> dict:
    """Copy ``index.json``, ``report.json`` and ``report.html`` of OUT to ``destination`` (a folder; default OUT)

    The published index names the run folder in ``root`` when it lives elsewhere, so the shard
    paths in it (relative to OUT) still resolve. With ``remote`` (the run's s3:// output, OUT being
    its local folder) the completion record is uploaded there too. Refuses a run whose report does
    not show a passed verification. Returns the completion record.
    """
    mirror = Mirror(out, remote)
    for name in (outputs.REPORT, outputs.REPORT_HTML, outputs.INDEX):
        mirror.fetch(os.path.join(out, name))
    report_path = os.path.join(out, outputs.REPORT)
    if not os.path.exists(report_path):
        raise PublishError(f"{report_path} is missing: verify the run and write its report before publishing")
    report = read_json(report_path)
    if not (report.get("verification") or {}).get("ok"):
        raise PublishError(f"{report_path} does not show a passed verification; run `audioprep verify {out}`")
    if destination and "://" in destination:
        raise PublishError(f"publishing to {destination} is not supported: give a folder (mounted storage works)")
    index = read_json(os.path.join(out, outputs.INDEX))
    destination = os.path.abspath(destination or out)
    if destination != os.path.abspath(out):
        write_json_if_changed(os.path.join(destination, outputs.INDEX), {**index, "root": remote or os.path.abspath(out)})
        write_json_if_changed(os.path.join(destination, outputs.REPORT), report)
        _copy_if_changed(os.path.join(out, outputs.REPORT_HTML), os.path.join(destination, outputs.REPORT_HTML))
    corpora = report.get("corpora") or {}
    complete = {
        "run": remote or os.path.abspath(out),
        "published_to": remote if destination == os.path.abspath(out) and remote else destination,
        "datasets": corpora.get("included") or sorted(report["summary"]["datasets"]),
        "failed": sorted(corpora.get("failed") or {}),
        "shards": len(index["shards"]),
        "samples": report["summary"].get("samples", report["summary"]["written"]),
        "index_sha256": _sha256(index),
        "report_sha256": _sha256(report),
    }
    for folder in sorted({os.path.abspath(out), destination}):
        write_json_if_changed(os.path.join(folder, outputs.COMPLETE), complete)
    mirror.push(os.path.join(out, outputs.COMPLETE))
    return complete
