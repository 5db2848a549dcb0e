"""Run directories: save/load round trip, safe node directories, refusals, load errors, targets."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

import pytest

from ctdiag.collect.node_targets import TargetKind, saved_targets
from ctdiag.collect.scheduler import SampleScheduler
from ctdiag.collect.store.run_reader import load_sample, load_samples, read_run
from ctdiag.collect.store.run_writer import (
    DIRECTORY_NAME,
    RUN_MANIFEST,
    RunWriter,
    node_directory,
    save_samples,
)
from ctdiag.collect.store.snapshot_dir import save
from ctdiag.errors import CtdiagError, SnapshotError
from ctdiag.model.samples import NodeSample
from tests.synthetic_samples import make_sample


def _manifest(root: Path) -> dict[str, object]:
    data = json.loads((root / RUN_MANIFEST).read_text())
    assert isinstance(data, dict)
    return data


def test_round_trip_keeps_every_sample_in_order(tmp_path: Path) -> None:
    samples = [make_sample("worker-2", window_s=5), make_sample("worker-1", count=10)]
    assert save_samples(tmp_path / "run", samples, window_s=5) == tmp_path / "run"
    loaded = load_samples(tmp_path / "run")
    assert loaded == samples
    assert [s.node for s in loaded] == ["worker-2", "worker-1"]
    assert loaded[0].after is not None and loaded[1].after is None
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "run.json",
        "worker-1",
        "worker-2",
    ]
    assert sorted(p.name for p in (tmp_path / "run" / "worker-2").iterdir()) == ["after", "before"]
    assert [p.name for p in (tmp_path / "run" / "worker-1").iterdir()] == ["before"]


def test_manifest_fields_match_the_documentation(tmp_path: Path) -> None:
    save_samples(tmp_path, [make_sample("worker-1", window_s=10)], window_s=10)
    manifest = _manifest(tmp_path)
    assert manifest["format"] == "ctdiag-run"
    assert manifest["format_version"] == 1
    assert manifest["window_s"] == 10
    assert manifest["ctdiag_version"] == "0.1.0"
    assert datetime.fromisoformat(str(manifest["created_at"])).utcoffset() is not None
    assert manifest["nodes"] == [
        {"node": "worker-1", "directory": "worker-1", "after": True, "error": None}
    ]


@pytest.mark.parametrize(
    "name", ["ip-10-0-1-5.ec2.internal", "worker-1", "node_3", "a" * 100, "Node/../A", "..",
             ".hidden", "-dash", "node a", "nöde", "c:\\x", "UPPER"],
)  # fmt: skip
def test_node_directories_are_safe_and_the_real_name_survives(tmp_path: Path, name: str) -> None:
    # (not called `node`: ctdiag.plugin.nodes parametrises every test with a `node` argument)
    directory = node_directory(name)
    assert DIRECTORY_NAME.fullmatch(directory), directory
    kept = DIRECTORY_NAME.fullmatch(name) is not None and len(name) <= 80
    assert (directory == name) is kept
    save_samples(tmp_path / "run", [make_sample(name)])
    assert [p.name for p in (tmp_path / "run").iterdir() if p.is_dir()] == [directory]
    assert [s.node for s in load_samples(tmp_path / "run")] == [name]


def test_names_that_differ_only_in_unsafe_characters_get_different_directories() -> None:
    names = ["Node/A", "node_a", "node a", "NODE_A", "node:a"]
    assert len({node_directory(name) for name in names}) == len(names)


def test_a_run_never_overwrites_anything(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(SnapshotError, match=r"^run .*used: already exists and is not empty"):
        save_samples(tmp_path / "used", [make_sample()])
    (tmp_path / "file").write_text("x")
    with pytest.raises(SnapshotError, match="already exists"):
        save_samples(tmp_path / "file", [make_sample()])
    (tmp_path / "empty").mkdir()
    save_samples(tmp_path / "empty", [make_sample()])  # an empty directory is fine
    with pytest.raises(SnapshotError, match="already exists"):
        save_samples(tmp_path / "empty", [make_sample("other")])
    with pytest.raises(SnapshotError, match="'worker-1' is saved already"):
        save_samples(tmp_path / "twice", [make_sample(), make_sample()])


def test_writer_writes_nothing_before_the_first_node_and_keeps_the_run_order(
    tmp_path: Path,
) -> None:
    writer = RunWriter(tmp_path / "run", window_s=0, order=["a", "b", "c"])
    assert not (tmp_path / "run").exists()
    writer.record(make_sample("c"))
    assert [n.node for n in read_run(tmp_path / "run").nodes] == ["c"]
    writer.record_failure("b", "b: no network namespace 'b' [ip netns exec b true]")
    writer.record(make_sample("a"))
    writer.record(make_sample("late"))
    run = read_run(tmp_path / "run")
    assert [n.node for n in run.nodes] == ["a", "b", "c", "late"]
    assert run.nodes[1].before is None
    assert run.nodes[1].error == "b: no network namespace 'b' [ip netns exec b true]"
    with pytest.raises(SnapshotError, match=r"^b: no network namespace 'b' .*this run was saved"):
        load_sample(run.nodes[1])
    assert [s.node for s in load_samples(tmp_path / "run")] == ["a", "c", "late"]
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_a_lone_snapshot_or_node_directory_reads_as_a_run_of_one(tmp_path: Path) -> None:
    sample = make_sample("worker-7", window_s=3)
    save_samples(tmp_path / "run", [sample])
    node_dir = tmp_path / "run" / "worker-7"
    assert load_sample(read_run(node_dir).nodes[0]) == sample
    alone = read_run(node_dir / "before")
    assert [n.node for n in alone.nodes] == ["worker-7"] and alone.window_s is None
    assert load_sample(alone.nodes[0]) == NodeSample(sample.before)


def _break(root: Path, change: str) -> None:
    manifest = _manifest(root)
    nodes = manifest["nodes"]
    assert isinstance(nodes, list)
    if change == "version":
        manifest["format_version"] = 2
    elif change == "format":
        manifest["format"] = "something-else"
    elif change == "escape":
        nodes[0]["directory"] = "../elsewhere"
    elif change == "missing-before":
        nodes[0]["directory"] = "nobody-here"
    elif change == "twice":
        nodes.append(nodes[0])
    elif change == "no-nodes-key":
        del manifest["nodes"]
    (root / RUN_MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("version", r"run.json: unknown format version 2 \(this ctdiag reads 1\)$"),
        ("format", r"run.json: not a ctdiag-run manifest$"),
        ("escape", r"run.json: node 'worker-1': directory '../elsewhere' is not a plain name$"),
        ("missing-before", r"run.json: node 'worker-1': no snapshot in nobody-here/before$"),
        ("twice", r"run.json: nodes listed twice: worker-1$"),
        ("no-nodes-key", r"run.json: 'nodes' missing$"),
    ],
)
def test_broken_manifests_are_one_line_naming_the_run(
    tmp_path: Path, change: str, message: str
) -> None:
    save_samples(tmp_path, [make_sample()])
    _break(tmp_path, change)
    with pytest.raises(SnapshotError, match=rf"^run {tmp_path}: {message}") as caught:
        read_run(tmp_path)
    assert "\n" not in str(caught.value)


def test_unreadable_inputs_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"^run .*/absent: no such directory \(no run.json"):
        read_run(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SnapshotError, match=r"plain: not a run or snapshot directory"):
        read_run(tmp_path / "plain")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / RUN_MANIFEST).write_text("{not json")
    with pytest.raises(SnapshotError, match=r"^run .*/bad: run.json: not JSON"):
        read_run(tmp_path / "bad")


def test_loading_checks_that_the_snapshots_belong_to_the_node(tmp_path: Path) -> None:
    save_samples(tmp_path / "run", [make_sample("worker-1", window_s=2)])
    after = tmp_path / "run" / "worker-1" / "after"
    for path in after.rglob("*"):
        if path.is_file():
            path.unlink()
    with pytest.raises(SnapshotError, match=r"^snapshot .*/after: snapshot.json: No such file"):
        load_samples(tmp_path / "run")
    save(make_sample("intruder").before, after)
    with pytest.raises(SnapshotError, match=r"after: snapshot.json: node 'intruder', the run"):
        load_samples(tmp_path / "run")


def test_saved_targets_load_instead_of_collecting_and_tell_recorders(tmp_path: Path) -> None:
    sample = make_sample("worker-1", window_s=2)
    writer = RunWriter(tmp_path / "run", window_s=2)
    writer.record(sample)
    writer.record_failure("worker-2", "worker-2: unreachable")
    targets = saved_targets(tmp_path / "run")
    assert [(t.node, t.kind) for t in targets] == [
        ("worker-1", TargetKind.SNAPSHOT),
        ("worker-2", TargetKind.SNAPSHOT),
    ]
    with pytest.raises(CtdiagError, match="no commands can run"):
        targets[0].runner()
    copy = RunWriter(tmp_path / "copy", window_s=2, order=[t.node for t in targets])
    progress: list[str] = []
    scheduler = SampleScheduler(window_s=99, recorders=[copy])
    try:
        scheduler.request(targets, lambda n, m: progress.append(m))
        loaded = scheduler.result("worker-1", lambda n, m: progress.append(m))
        assert loaded == sample
        with pytest.raises(SnapshotError, match="worker-2: unreachable"):
            scheduler.result("worker-2", lambda n, m: None)
    finally:
        scheduler.close()
    assert f"loading the saved sample from {tmp_path}/run/worker-1/before" in progress
    assert [(n.node, n.error is None) for n in read_run(tmp_path / "copy").nodes] == [
        ("worker-1", True),
        ("worker-2", False),
    ]


def test_a_run_without_nodes_is_refused_as_targets(tmp_path: Path) -> None:
    save_samples(tmp_path, [make_sample()])
    manifest = _manifest(tmp_path)
    manifest["nodes"] = []
    (tmp_path / RUN_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match=r"run.json: holds no node$"):
        saved_targets(tmp_path)


NODES = 48


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_completions_all_land_in_a_readable_run(tmp_path: Path, attempt: int) -> None:
    """Samples and failures arriving at once from many pool threads (as the scheduler's
    workers deliver them) each end up in ``run.json``, which stays valid JSON throughout."""
    samples = [make_sample(f"worker-{k}", count=k) for k in range(NODES)]
    writer = RunWriter(tmp_path / "run", window_s=0, order=[s.node for s in samples])
    start = threading.Barrier(NODES)
    errors: list[BaseException] = []

    def complete(k: int) -> None:
        start.wait()
        try:
            if k % 4 == 3:
                writer.record_failure(samples[k].node, f"{samples[k].node}: unreachable")
            else:
                writer.record(samples[k])
            _manifest(tmp_path / "run")  # readable at every moment, by anyone
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=complete, args=(k,)) for k in range(NODES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    run = read_run(tmp_path / "run")
    assert [n.node for n in run.nodes] == [s.node for s in samples]
    for k, saved in enumerate(run.nodes):
        if k % 4 == 3:
            assert saved.error == f"worker-{k}: unreachable"
        else:
            assert load_sample(saved) == samples[k]
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if not p.is_dir()) == [RUN_MANIFEST]


def test_the_same_node_recorded_twice_at_once_is_refused_once(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run", window_s=0)
    sample = make_sample("worker-1")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def record() -> None:
        start.wait()
        try:
            writer.record(sample)
            outcomes.append("saved")
        except SnapshotError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("saved") == 1
    assert all("saved already" in o for o in outcomes if o != "saved")
    assert load_samples(tmp_path / "run") == [sample]


def test_scheduler_workers_record_every_node_of_a_wide_run(tmp_path: Path) -> None:
    """The scheduler's own pool (16 at once) completing saved nodes concurrently."""
    samples = [make_sample(f"node-{k}") for k in range(NODES)]
    save_samples(tmp_path / "saved", samples)
    targets = saved_targets(tmp_path / "saved")
    copy = RunWriter(tmp_path / "copy", window_s=0, order=[t.node for t in targets])
    scheduler = SampleScheduler(window_s=0, max_parallel=16, recorders=[copy])
    try:
        scheduler.request(targets, lambda n, m: None)
        for target in targets:
            scheduler.result(target.node, lambda n, m: None)
    finally:
        scheduler.close()
    assert load_samples(tmp_path / "copy") == samples
