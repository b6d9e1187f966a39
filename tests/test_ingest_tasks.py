"""Ingest cut into tasks (pipelines/ingest/tasks.py, part.py, merge.py) and run on the engines'
workers (pipelines/runners ``ingest_executor``): the same manifests, drops and plan whether the tasks
run in this process, in a pool or on Beam or Ray with one or two workers, and the same records as
one task reading everything (the manifest's bytes: row groups of a fixed size); a recording crossing
two tasks is packed as one."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures import speech_corpora as F
from pipelines.core import manifest_file, outputs
from pipelines.core.config import DatasetSpec, EngineOptions, RunConfig
from pipelines.ingest import tasks as tasks_module
from pipelines.ingest.manifest import finish_dataset, in_process, ingest_dataset, iter_manifest, pending_tasks, start_dataset
from pipelines.plan.planner import make_plan
from tests.conftest import toy_schema_text


def _written(out: Path) -> dict[str, bytes]:
    """Every file a plan leaves (manifests, drops, plan, unit inputs), its folder's name masked."""
    return {p.relative_to(out).as_posix(): p.read_bytes().replace(str(out).encode(), b"OUT")
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "engine.log"}


def _records(out: Path, name: str) -> list:
    return [r.to_row() for r in iter_manifest(outputs.manifest_path(str(out), name))]


def _manifest_and_drops(out: Path, name: str) -> tuple[bytes, bytes]:
    return Path(outputs.manifest_path(str(out), name)).read_bytes(), Path(outputs.ingest_drops_path(str(out), name)).read_bytes()


def _small_row_groups(monkeypatch) -> None:
    """Manifests in row groups of 2 records, so parts are re-grouped across their ends when merged
    (in this process and in a pool's forked workers: not on an engine's)."""
    monkeypatch.setattr(manifest_file, "ROW_GROUP_ROWS", 2)


@pytest.fixture(scope="module")
def common_voice(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("common_voice") / "cv-corpus"
    F.write_common_voice(str(root))
    return str(root)


@pytest.fixture(scope="module")
def tedlium(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("tedlium") / "TEDLIUM_release-3"
    F.write_tedlium3(str(root))
    return str(root)


def test_a_corpus_of_several_metadata_files_is_cut_into_tasks_that_merge_to_the_same_records(
        common_voice, tedlium, tmp_path, monkeypatch):
    """Common Voice's TSV files and TED-LIUM's STM files (windows packed per talk): one task per
    file, in this process or in a pool of two, gives the records and drops of one task reading all,
    in the reader's order, and the same bytes either way; the parts are gone after the merge."""
    corpora = {"common_voice": common_voice, "tedlium3": tedlium}
    _small_row_groups(monkeypatch)
    whole, cut = {}, {}
    for name, root in corpora.items():
        whole[name] = ingest_dataset(DatasetSpec(name, name, root), str(tmp_path / "whole"))
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)
    specs = tuple(DatasetSpec(name, name, root) for name, root in corpora.items())
    for name, root in corpora.items():
        listing = start_dataset(DatasetSpec(name, name, root), str(tmp_path / "listed"))
        assert len(listing.tasks) > 1 and all(task.files == 1 for task in listing.tasks), listing.tasks
    written = {}
    for processes in (1, 2):
        out = tmp_path / f"cut-{processes}"
        make_plan(RunConfig(datasets=specs, out=str(out), shard_max_samples=20), processes=processes)
        written[processes] = _written(out)
        cut[processes] = {name: _manifest_and_drops(out, name) for name in corpora}
        assert not list((out / "_work" / "ingest").glob("*/part-*")), "parts left after the merge"
    assert written[1] == written[2]
    for name in corpora:
        assert cut[1][name] == _manifest_and_drops(tmp_path / "whole", name), name
    assert whole["tedlium3"]["records"] > 0 and any(r["key"].startswith("tedlium3-") and "-w" in r["key"] for r in _records(tmp_path / "cut-1", "tedlium3"))
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(outputs.manifest_path(str(tmp_path / "cut-1"), "common_voice")).metadata
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]  # parts re-grouped across their ends
    assert len(groups) > 1 and set(groups[:-1]) == {2} and sum(groups) == whole["common_voice"]["records"], groups


def test_a_recording_whose_segments_cross_two_tasks_is_packed_as_one(tmp_path, monkeypatch):
    """Segments of one recording listed at the end of one metadata file and the start of the next,
    or on two lines of one file cut into a range a line: the tasks they cross are made one and run
    again (its listing the ranges of a file joined into one), so the windows are those of one task
    reading all."""
    root = tmp_path / "corpus"
    (root / "audio").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "audio" / f"{name}.wav").write_bytes(b"")
    (root / "lists").mkdir()
    (root / "lists" / "1.txt").write_text("a 0.0 2.0 one\nb 0.0 2.0 two\nb 2.5 4.0 three\n")
    (root / "lists" / "2.txt").write_text("b 4.2 6.0 four\nc 0.0 1.0 five\n")
    (root / "lists" / "3.txt").write_text("c 1.5 3.0 six\n")
    schema = tmp_path / "toy.yaml"
    schema.write_text(toy_schema_text(
        '{kind: lines, files: "lists/{part}.txt", line: "(?P<rec>\\\\S+) (?P<start>\\\\S+) (?P<end>\\\\S+) (?P<text>.*)"}',
        '{key: "{rec}-{start}", audio: "audio/{rec}.wav", offset: "{start}", end: "{end}", text: "{text}", split: train}',
        extra="windows: {gaps: split, max_gap: 1.0}",
    ))
    spec = DatasetSpec("toy", str(schema), str(root))
    _small_row_groups(monkeypatch)
    ingest_dataset(spec, str(tmp_path / "whole"))
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)
    ran: list[list[str]] = []
    read: dict[str, list] = {}
    here = in_process(str(tmp_path / "cut"))

    def run(tasks: list[str]) -> None:
        ran.append(tasks)
        read.update({task: [(path, *span) for path, _, *span in tasks_module.files_of(str(tmp_path / "cut"), task, listing.fingerprint)]
                     for task in tasks})
        here(tasks)

    listing = start_dataset(spec, str(tmp_path / "cut"))
    run(pending_tasks(listing, str(tmp_path / "cut")))
    finish_dataset(listing, str(tmp_path / "cut"), run)
    # a task a line; 1-3 crossed (b), 4-5 (c): each run one task
    assert ran == [[f"toy/0000{i}" for i in range(6)], ["toy/00006", "toy/00007"]]
    assert read["toy/00001"] == [("lists/1.txt", 14, 28, 1)] and read["toy/00005"] == [("lists/3.txt",)]
    assert read["toy/00006"] == [("lists/1.txt", 14, None, 1), ("lists/2.txt", 0, 15, 0)]  # two ranges of 1.txt joined
    assert read["toy/00007"] == [("lists/2.txt", 15, None, 1), ("lists/3.txt",)]
    assert _manifest_and_drops(tmp_path / "cut", "toy") == _manifest_and_drops(tmp_path / "whole", "toy")
    records = _records(tmp_path / "cut", "toy")
    assert [r["key"] for r in records] == ["toy-audio_a-w0000000", "toy-audio_b-w0000000", "toy-audio_c-w0000000"]
    assert [r["duration"] for r in records] == [2.0, 6.0, 3.0]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["beam", "ray"])
def test_ingest_tasks_run_on_the_engine_s_workers_and_write_the_same_bytes(engine, demo_corpora, tedlium, tmp_path, monkeypatch):
    """The demo corpora, TED-LIUM, SLURP and Speech Commands cut by metadata or audio file (LibriSpeech's
    and SLURP's audio listed once for their tasks): on the engine with one and two workers, the plan
    writes the bytes of the in-process path; on Ray the tasks ran in worker processes."""
    from fixtures import audio_corpora as A
    from pipelines.runners import ingest_executor

    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)
    monkeypatch.setattr(tasks_module, "TASK_FILES", 1)
    more = {"slurp": str(tmp_path / "slurp"), "speech_commands": str(tmp_path / "speech_commands")}
    A.write_slurp(more["slurp"])
    (tmp_path / "slurp" / "audio" / "slurp_real" / "audio-0000000000.flac").write_bytes(b"")
    A.write_speech_commands(more["speech_commands"])
    specs = tuple(DatasetSpec(name, name, root) for name, root in sorted({**demo_corpora, "tedlium3": tedlium, **more}.items()))
    config = RunConfig(datasets=specs, out=str(tmp_path / "here"), shard_max_samples=20)
    make_plan(config)
    reference = _written(tmp_path / "here")
    for workers in (1, 2):
        out = tmp_path / f"{engine}-{workers}"
        config = RunConfig(datasets=specs, out=str(out), shard_max_samples=20)
        make_plan(config, run_tasks=ingest_executor(config, EngineOptions(engine, workers)))
        assert _written(out) == reference, (engine, workers)
    if engine == "ray":  # where the tasks ran: their parts' completion records, read before the merge
        out = tmp_path / "ray-where"
        config = RunConfig(datasets=specs, out=str(out))
        listing = start_dataset(next(spec for spec in specs if spec.name == "slurp"), str(out))  # several tasks
        ingest_executor(config, EngineOptions("ray", 2))(pending_tasks(listing, str(out)))
        pids = {json.loads(Path(outputs.ingest_part_path(str(out), t.id, "done.json")).read_text())["worker"]["pid"]
                for t in listing.tasks}
        assert pids and os.getpid() not in pids, pids
        finish_dataset(listing, str(out), in_process(str(out)))


def test_which_engines_run_the_ingest_tasks():
    """Ray and a Beam runner the user names run them; Beam's local runner (threads of this process)
    and the local engine leave them to this machine's processes."""
    from pipelines.runners import engine_runs_ingest

    assert engine_runs_ingest(EngineOptions("ray", 2))
    assert engine_runs_ingest(EngineOptions("beam", 2, beam_args=("--runner=FlinkRunner",)))
    assert not engine_runs_ingest(EngineOptions("beam", 2))
    assert not engine_runs_ingest(EngineOptions("local", 1))


def _cut_like_one_task(specs: list[DatasetSpec], tmp_path: Path, monkeypatch, bound: str, value: int = 1) -> dict[str, dict]:
    """Each dataset ingested as one task, then cut with ``tasks.<bound>`` = ``value`` and planned in
    this process and in a pool of two: the same manifest and drops as the one task (and the same
    bytes either way); returns each dataset's completion record of the cut ingest."""
    _small_row_groups(monkeypatch)
    whole = {spec.name: ingest_dataset(spec, str(tmp_path / "whole")) for spec in specs}
    monkeypatch.setattr(tasks_module, bound, value)
    written, done = {}, {}
    for processes in (1, 2):
        out = tmp_path / f"cut-{processes}"
        make_plan(RunConfig(datasets=tuple(specs), out=str(out), shard_max_samples=20), processes=processes)
        written[processes] = _written(out)
        for spec in specs:
            assert _manifest_and_drops(out, spec.name) == _manifest_and_drops(tmp_path / "whole", spec.name), spec.name
            done[spec.name] = json.loads(Path(outputs.ingest_done_path(str(out), spec.name)).read_text())
            assert {k: done[spec.name][k] for k in ("records", "drops")} == {k: whole[spec.name][k] for k in ("records", "drops")}
        assert not list((out / "_work" / "ingest").glob("*/*")), "parts or listings left after the merge"
    assert written[1] == written[2]
    return done


def _listed(out: Path, listing, task) -> list:
    return list(tasks_module.files_of(str(out), task.id, listing.fingerprint))


def _reasons(out: Path, name: str) -> list[tuple[str, str]]:
    lines = Path(outputs.ingest_drops_path(str(out), name)).read_text().splitlines()
    return [(row["reason"], row["source"]) for row in map(json.loads, lines)]


def test_a_folder_per_label_corpus_is_cut_by_audio_file_and_its_refused_links_told_once(tmp_path, monkeypatch):
    """Speech Commands (one record per audio file) with two links out of the root, one met mid-walk
    and one after the last file: one task per audio file gives the records and drops of one task,
    each link refused once and where the walk met it; the counts balance."""
    from fixtures import audio_corpora as A

    root, outside = tmp_path / "speech_commands", tmp_path / "elsewhere.wav"
    A.write_speech_commands(str(root))
    outside.write_bytes((root / "yes" / "0a7c2a8d_nohash_0.wav").read_bytes())
    (root / "right" / "aa000000_nohash_0.wav").symlink_to(outside)
    (root / "yes" / "zz000000_nohash_0.wav").symlink_to(outside)
    spec = DatasetSpec("speech_commands", "speech_commands", str(root))
    monkeypatch.setattr(tasks_module, "TASK_FILES", 1)
    listing = start_dataset(spec, str(tmp_path / "listed"))
    assert [[path for path, _ in _listed(tmp_path / "listed", listing, task)] for task in listing.tasks] == [
        ["right/aa000000_nohash_0.wav", "right/bb05582b_nohash_3.wav"], ["yes/0a7c2a8d_nohash_0.wav"],
        ["yes/0a7c2a8d_nohash_1.wav"], ["yes/zz000000_nohash_0.wav"]]
    monkeypatch.setattr(tasks_module, "TASK_FILES", 5000)
    done = _cut_like_one_task([spec], tmp_path, monkeypatch, "TASK_FILES")
    assert _reasons(tmp_path / "cut-1", "speech_commands") == [
        ("path_outside_root", "right/aa000000_nohash_0.wav"), ("path_outside_root", "yes/zz000000_nohash_0.wav")]
    assert (done["speech_commands"]["records"], done["speech_commands"]["drops"]) == (3, 2)  # 5 entries walked


def _librispeech_with_orphans(demo_root: str, folder: Path) -> str:
    """The demo LibriSpeech with an audio file no transcript names and a later file of a used key."""
    import shutil

    root = folder / "LibriSpeech"
    shutil.copytree(demo_root, root)
    chapter = root / "dev-clean-2" / "100" / "5000"
    shutil.copy(chapter / "100-5000-0000.flac", chapter / "100-5000-0009.flac")
    (root / "dev-clean-2" / "102" / "5000").mkdir(parents=True)
    shutil.copy(chapter / "100-5000-0000.flac", root / "dev-clean-2" / "102" / "5000" / "100-5000-0000.flac")
    return str(root)


def test_datasets_that_list_their_audio_are_cut_with_the_audio_listed_once_and_orphans_told_once(
        demo_corpora, tmp_path, monkeypatch):
    """LibriSpeech (transcript files) and SLURP (JSON Lines documents), both naming audio by key: cut
    by metadata file, their audio listed once beside the tasks, every task looking its keys up there;
    the files no row used (an unnamed file, a later file of a used key) are told once, after every
    row, as by one task; the counts balance."""
    from fixtures import audio_corpora as A

    slurp = tmp_path / "slurp"
    A.write_slurp(str(slurp))
    (slurp / "audio" / "slurp_real" / "audio-0000000000.flac").write_bytes(b"")  # named by no recording
    specs = [DatasetSpec("librispeech", "librispeech", _librispeech_with_orphans(demo_corpora["librispeech"], tmp_path)),
             DatasetSpec("slurp", "slurp", str(slurp))]
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)
    for spec in specs:
        listing = start_dataset(spec, str(tmp_path / "listed"))
        assert len(listing.tasks) > 1 and listing.audio_index, listing
        assert os.path.isfile(outputs.ingest_audio_index_path(str(tmp_path / "listed"), spec.name))
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 4 << 20)
    done = _cut_like_one_task(specs, tmp_path, monkeypatch, "TASK_BYTES")
    orphans = [(reason, source) for reason, source in _reasons(tmp_path / "cut-2", "librispeech") if reason == "audio_without_metadata"]
    assert orphans == [("audio_without_metadata", "dev-clean-2/100/5000/100-5000-0009.flac"),
                       ("audio_without_metadata", "dev-clean-2/102/5000/100-5000-0000.flac")]
    assert _reasons(tmp_path / "cut-2", "librispeech")[-2:] == orphans  # after every row's drops
    assert _reasons(tmp_path / "cut-2", "slurp") == [("audio_without_metadata", "audio/slurp_real/audio-0000000000.flac")]
    lines = sum(len(p.read_text().splitlines()) for p in Path(specs[0].root).rglob("*.trans.txt"))
    assert done["librispeech"]["records"] + done["librispeech"]["drops"] == lines + 2
    assert (done["slurp"]["records"], done["slurp"]["drops"]) == (3, 1)


def test_a_rerun_skips_the_tasks_whose_part_is_complete(tmp_path, monkeypatch):
    """A crash after one task's part was written: the rerun runs the other tasks only, and the merge
    (the orphans of the audio listed by the first attempt included) is that of one task."""
    from fixtures import audio_corpora as A

    root = tmp_path / "slurp"
    A.write_slurp(str(root))
    (root / "audio" / "slurp_real" / "audio-0000000000.flac").write_bytes(b"")
    spec = DatasetSpec("slurp", "slurp", str(root))
    _small_row_groups(monkeypatch)
    ingest_dataset(spec, str(tmp_path / "whole"))
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 1)
    out = str(tmp_path / "cut")
    listing = start_dataset(spec, out)
    first, *rest = [task.id for task in listing.tasks]
    in_process(out)([first])
    ran: list[str] = []
    here = in_process(out)

    def run(tasks: list[str]) -> None:
        ran.extend(tasks)
        here(tasks)

    ingest_dataset(spec, out, run_tasks=run)
    assert ran == rest and rest
    assert _manifest_and_drops(tmp_path / "cut", "slurp") == _manifest_and_drops(tmp_path / "whole", "slurp")


def _speech_commands_cut_by_file(tmp_path: Path, monkeypatch) -> DatasetSpec:
    from fixtures import audio_corpora as A

    root = tmp_path / "speech_commands"
    A.write_speech_commands(str(root))
    monkeypatch.setattr(tasks_module, "TASK_FILES", 1)
    return DatasetSpec("speech_commands", "speech_commands", str(root))


def test_each_task_s_files_are_listed_in_a_file_of_its_own_that_its_worker_alone_reads(tmp_path, monkeypatch):
    """The tasks file names no corpus file: each task's files are in a file of its own (exactly its
    files, under the listing's fingerprint); a worker running one task reads that task's listing and
    no other; a listing of other work is refused, naming the file."""
    spec = _speech_commands_cut_by_file(tmp_path, monkeypatch)
    out = tmp_path / "out"
    listing = start_dataset(spec, str(out))
    tasks_text = Path(outputs.ingest_tasks_path(str(out), spec.name)).read_text()
    assert ".wav" not in tasks_text and [task.files for task in listing.tasks] == [1, 1, 1]
    assert [[(path, fields["word"]) for path, fields in _listed(out, listing, task)] for task in listing.tasks] == [
        [("right/bb05582b_nohash_3.wav", "right")], [("yes/0a7c2a8d_nohash_0.wav", "yes")], [("yes/0a7c2a8d_nohash_1.wav", "yes")]]
    opened: list[str] = []
    real = open

    def watched(path, *args, **kwargs):
        opened.append(os.path.basename(str(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tasks_module, "open", watched, raising=False)
    in_process(str(out))([listing.tasks[1].id])
    assert opened == ["files-00001.jsonl"]
    monkeypatch.undo()
    other = tmp_path / "other"
    (other / "_work" / "ingest" / spec.name).mkdir(parents=True)
    tasks_module.write_files(str(other), listing.tasks[0].id, "another fingerprint", [])
    with pytest.raises(tasks_module.StaleListing, match="files-00000.jsonl"):
        list(tasks_module.files_of(str(other), listing.tasks[0].id, listing.fingerprint))


@pytest.mark.slow
def test_a_worker_on_another_machine_reads_its_task_s_listing_from_the_bucket(s3, tmp_path, monkeypatch):
    """An s3:// output: the driver lists the tasks in its folder and pushes each listing; a worker
    with a folder of its own (another node) fetches the tasks file and its task's listing, none
    other, runs its task and pushes the part; a stale copy of an earlier attempt's listing on that
    worker is replaced by the bucket's. Once the driver merged the parts and pushed the manifest, its
    drops and its completion record, the dataset's parts and listings are gone from the bucket."""
    import boto3

    from pipelines.core import remote
    from pipelines.ingest.part import TaskRunner
    from s3_server import s3_env

    for name, value in s3_env(s3.url).items():
        monkeypatch.setenv(name, value)
    remote._client.cache_clear()
    client = boto3.client("s3", endpoint_url=s3.url)
    client.create_bucket(Bucket="listings")
    uri = "s3://listings/run"
    spec = _speech_commands_cut_by_file(tmp_path, monkeypatch)
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    try:
        listing = start_dataset(spec, str(driver), mirror=remote.Mirror(str(driver), uri))
        keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket="listings")["Contents"])
        assert keys == [f"run/_work/ingest/speech_commands/{name}" for name in
                        ("files-00000.jsonl", "files-00001.jsonl", "files-00002.jsonl", "tasks.json")]
        stale = Path(outputs.ingest_task_files_path(str(worker), listing.tasks[2].id))
        stale.parent.mkdir(parents=True)
        stale.write_text('{"fingerprint": "earlier", "task": "speech_commands/00002"}\n["no/such.wav", {"word": "no"}]\n')
        runner = TaskRunner(str(worker), uri)
        for task in listing.tasks[1:]:
            assert runner(task.id).records == 1
        assert sorted(p.name for p in stale.parent.glob("files-*")) == ["files-00001.jsonl", "files-00002.jsonl"]
        assert stale.read_bytes() == Path(outputs.ingest_task_files_path(str(driver), listing.tasks[2].id)).read_bytes()
        pushed = {item["Key"].rsplit("/", 1)[1] for item in client.list_objects_v2(Bucket="listings")["Contents"]}
        assert {"part-00001.done.json", "part-00002.done.json"} <= pushed and "part-00000.done.json" not in pushed
        mirror = remote.Mirror(str(driver), uri)  # the driver: the last task, then the merge
        TaskRunner(str(driver), uri)(listing.tasks[0].id)
        assert finish_dataset(listing, str(driver), in_process(str(driver)), mirror)["records"] == 3
        keys = {item["Key"]: item for item in client.list_objects_v2(Bucket="listings")["Contents"]}
        assert not [key for key in keys if key.startswith("run/_work/ingest/speech_commands/")], sorted(keys)
        for path in (outputs.manifest_path(str(driver), spec.name), outputs.ingest_drops_path(str(driver), spec.name),
                     outputs.ingest_done_path(str(driver), spec.name)):  # pushed before the parts went
            body = client.get_object(Bucket="listings", Key="run/" + Path(path).relative_to(driver).as_posix())["Body"].read()
            assert body == Path(path).read_bytes(), path
    finally:
        remote._client.cache_clear()


def _spans(out: Path, listing) -> list[tuple]:
    """Every task's entries as (path, start, end), a whole file as (path,)."""
    return [(path, *span) for task in listing.tasks for path, _, *span in _listed(out, listing, task)]


def _big_common_voice(folder: Path, rows: int) -> str:
    """Common Voice's layout with an ``en/train.tsv`` of ``rows`` clips (their lengths in
    clip_durations.tsv, the audio files present and empty: nothing is decoded at ingest), a
    sentence past the csv module's cell limit, a stray carriage return inside a sentence, CRLF line
    ends and no newline after the last row; then, with the file's ranges at ``bound`` bytes, the
    row ending the first range and the row opening the second made malformed (a tab turned into a
    space: the same bytes long, so the ranges stay)."""
    root = folder / "cv-corpus"
    F.write_common_voice(str(root))
    clips, lines = [], ["\t".join(F.CV_HEADER_NEW)]
    for i in range(rows):
        name = f"common_voice_en_{1000 + i}.mp3"
        clips.append(name)
        sentence = "x" * 140_000 if i == 700 else ("half\rway" if i == 900 else f"sentence number {i} is read aloud.")
        lines.append("\t".join([f"client{i % 37}", name, f"s{i}", sentence, "", "2", "0", "", "", "", "", "en", ""]))
    train = root / "en" / "train.tsv"
    train.write_bytes("\r\n".join(lines).encode())
    (root / "en" / "clip_durations.tsv").write_text(
        "clip\tduration[ms]\n" + "".join(f"{name}\t{1000 + i % 5000}\n" for i, name in enumerate(clips)))
    for name in clips:
        (root / "en" / "clips" / name).write_bytes(b"")
    return str(root)


def _break_rows_at(path: Path, boundary: int) -> tuple[int, int]:
    """The rows ending and starting at ``boundary`` made malformed; returns their line numbers."""
    data = bytearray(path.read_bytes())
    before = data.rindex(b"\n", 0, boundary - 1) + 1
    for start in (before, boundary):
        data[data.index(b"\t", start)] = ord(" ")
    path.write_bytes(bytes(data))
    return data.count(b"\n", 0, before) + 1, data.count(b"\n", 0, boundary) + 1


def test_one_large_table_is_cut_into_byte_ranges_that_merge_to_the_rows_of_one_task(tmp_path, monkeypatch):
    """Common Voice's train.tsv of 2,000 rows cut at line ends into ranges of about 24 KiB: the
    tasks' manifest and drops are the bytes of one task reading the file (in this process and in a
    pool of two); the rows on either side of a range boundary are dropped once each, by the task
    whose range holds them, with their line numbers; the oversized cell costs its line alone; the
    header is taken from the file's start by every range."""
    from pipelines.ingest.layouts import ranges

    bound = 24 << 10
    root = _big_common_voice(tmp_path, 2000)
    train = Path(root) / "en" / "train.tsv"
    spans = ranges.cut_points(str(train), train.stat().st_size, bound, keep=1, universal=True)
    assert len(spans) > 5 and spans[-1][1] is None and all(end - start >= bound for start, end, _ in spans[:-1])
    data = train.read_bytes()  # the lines before each range, as the csv module counts them (a lone CR too)
    assert [before for _, _, before in spans] == [
        len(data[:start].decode("utf-8", "surrogateescape").replace("\r\n", "\n").replace("\r", "\n").split("\n")) - 1
        for start, _, _ in spans]
    ending, opening = _break_rows_at(train, spans[1][0])
    spec = DatasetSpec("common_voice", "common_voice", root)
    monkeypatch.setattr(tasks_module, "TASK_BYTES", bound)
    listing = start_dataset(spec, str(tmp_path / "listed"))
    assert [span for span in _spans(tmp_path / "listed", listing) if span[0] == "en/train.tsv"] == [
        ("en/train.tsv", start, end, before) for start, end, before in spans]
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 4 << 20)
    done = _cut_like_one_task([spec], tmp_path, monkeypatch, "TASK_BYTES", bound)
    reasons = _reasons(tmp_path / "cut-2", "common_voice")
    assert ("row_malformed", f"en/train.tsv:{ending}") in reasons and ("row_malformed", f"en/train.tsv:{opening}") in reasons
    assert ending < 702 and [r for r in reasons if r[1].startswith("en/train.tsv")] == [
        ("row_malformed", f"en/train.tsv:{ending}"), ("row_malformed", f"en/train.tsv:{opening}"),
        ("table_unparsed", "en/train.tsv:702"), ("row_malformed", "en/train.tsv:902"), ("row_malformed", "en/train.tsv:903")]
    records = _records(tmp_path / "cut-2", "common_voice")
    last = [r for r in records if r["key"] == "common_voice-common_voice_en_2999"]  # after the final row's missing newline
    assert last and last[0]["text"] == "sentence number 1999 is read aloud." and last[0]["seconds"] == 2.999
    assert done["common_voice"]["records"] == 2 + 2000 - 4 and done["common_voice"]["drops"] == 1 + 5  # ta refused; 4 rows + 2 halves


def test_a_large_transcript_list_is_cut_into_byte_ranges_with_its_line_numbers(tmp_path, monkeypatch):
    """MLS's one transcripts.txt a split (a ``lines`` layout) of 2,000 lines, opening with a byte
    order mark, with CRLF line ends, unparsable lines and no final newline, cut into ranges of about
    4 KiB: the records and drops (lines named by number, audio no line names told once) are the
    bytes of one task reading the file."""
    from pipelines.ingest.layouts import ranges

    root = tmp_path / "mls"
    F.write_mls(str(root))
    transcripts = root / "mls_german" / "train" / "transcripts.txt"
    lines = transcripts.read_text().splitlines()
    lines += [f"1844_1139_{i:06d}\tzeile {i}" if i % 500 else f"not a transcript {i}" for i in range(2, 2000)]
    transcripts.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode())
    for i in range(2, 2000, 3):  # a third of the lines have their audio (empty: probed as unknown)
        (root / "mls_german" / "train" / "audio" / "1844" / "1139" / f"1844_1139_{i:06d}.flac").write_bytes(b"")
    spans = ranges.cut_points(str(transcripts), transcripts.stat().st_size, 4096)
    assert len(spans) > 5 and spans[0][0] == 0
    assert [before for _, _, before in spans] == [transcripts.read_bytes()[:start].count(b"\n") for start, _, _ in spans]
    spec = DatasetSpec("mls", "mls", str(root))
    done = _cut_like_one_task([spec], tmp_path, monkeypatch, "TASK_BYTES", 4096)
    unparsed = [source for reason, source in _reasons(tmp_path / "cut-1", "mls") if reason == "line_unparsed"]
    assert unparsed == [f"mls_german/train/transcripts.txt:{i + 1}" for i in range(500, 2000, 500)]
    records = {r["key"]: r for r in _records(tmp_path / "cut-1", "mls")}
    assert records["mls-german-1844_1139_000000"]["text"] == "das sind die worte des herrn"  # after the BOM
    assert records["mls-german-1844_1139_001997"]["text"] == "zeile 1997"
    assert done["mls"]["records"] == len(records)


def test_a_quoted_table_or_a_utf16_file_stays_whole(tmp_path, monkeypatch):
    """Clotho's captions CSV (quoted cells may hold line breaks) larger than a task is one piece,
    and so is a table in UTF-16 (a newline's byte is part of other characters)."""
    from fixtures import audio_corpora as A
    from pipelines.ingest.layouts import ranges
    from schemas import loader

    root = tmp_path / "clotho"
    A.write_clotho(str(root))
    monkeypatch.setattr(tasks_module, "TASK_BYTES", 16)
    listing = start_dataset(DatasetSpec("clotho", "clotho", str(root)), str(tmp_path / "out"))
    assert listing.tasks == (tasks_module.IngestTask("clotho", 0),)  # one file, never cut
    layout = loader.load("common_voice").layout
    assert ranges.cuttable(layout) and not ranges.cuttable(loader.load("clotho").layout)
    assert not ranges.cuttable(layout.model_copy(update={"encoding": "utf-16"}))
    assert not ranges.cuttable(layout.model_copy(update={"escapechar": "\\"}))
