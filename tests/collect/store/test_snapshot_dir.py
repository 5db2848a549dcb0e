"""Snapshots: model validation, save/load round trip, errors, and two-snapshot samples."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctdiag.analyze.rates import Sample
from ctdiag.collect.store.snapshot_dir import FORMAT_VERSION, MANIFEST, load, save
from ctdiag.errors import CollectionError, SnapshotError
from ctdiag.model.outputs import CommandOutput, EntrySource, OutputName, Snapshot
from ctdiag.parse.kernel_log import parse_kernel_log
from ctdiag.parse.stats import parse_conntrack_stats, parse_proc_stat
from ctdiag.parse.sysctl import parse_conntrack_count, parse_sysctl_dump, parse_sysctl_int
from tests.paths import STATS_DATA as DATA

T0 = datetime(2025, 3, 4, 10, 12, 1, 250000, tzinfo=UTC)
ENTRY = (
    "tcp      6 431999 ESTABLISHED src=203.0.113.50 dst=198.51.100.10 sport=51234 dport=443 "
    "src=10.0.0.21 dst=203.0.113.50 sport=8443 dport=51234 [ASSURED] mark=0 use=1\n"
)
KERNEL_LOG = (
    "[7200.000001] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    "[7205.000002] net_ratelimit: 2718 callbacks suppressed\n"
)


def _output(name: str, argv: tuple[str, ...], stdout: bytes, offset: float = 0.0) -> CommandOutput:
    return CommandOutput(
        name=name,
        argv=argv,
        exit_status=0,
        stdout=stdout,
        stderr=b"",
        started_at=T0 + timedelta(seconds=offset),
        duration_s=0.125,
    )


def _real(name: str) -> bytes:
    return (DATA / name).read_bytes()


def make_snapshot(
    node: str = "worker-3", at: datetime = T0, stats: bytes | None = None
) -> Snapshot:
    entries = ENTRY.encode() * 40000  # ~6 MB: compressed on save
    return Snapshot(
        node=node,
        kernel_release="6.18.44-fc-v509",
        conntrack_version="1.4.7",
        collected_at=at,
        entry_source=EntrySource.CONNTRACK_CLI,
        outputs=(
            dataclasses.replace(
                _output(OutputName.ENTRIES, ("conntrack", "-L"), entries, 0.5),
                stderr=b"conntrack v1.4.7 (conntrack-tools): 40000 flow entries have been shown.\n",
            ),
            _output(OutputName.STATS, ("conntrack", "-S"), stats or _real("conntrack-S.txt")),
            _output(
                OutputName.STATS_PROC,
                ("cat", "/proc/net/stat/nf_conntrack"),
                _real("proc-net-stat-nf_conntrack.txt"),
            ),
            _output(OutputName.COUNT, ("conntrack", "-C"), _real("conntrack-C.txt")),
            _output(OutputName.MAX, ("cat", "/proc/sys/..._max"), _real("nf_conntrack_max.txt")),
            _output(
                OutputName.SYSCTL,
                ("grep", "-r", ".", "/proc/sys/net/netfilter/"),
                _real("grep-proc-sys-net-netfilter.txt"),
            ),
            _output(OutputName.KERNEL_LOG, ("dmesg",), KERNEL_LOG.encode()),
            # Binary-safe: NULs, invalid UTF-8, CRLF, no final newline.
            _output("rules_raw", ("iptables-save", "-t", "raw"), b"\x00\xff\xfe*raw\r\nCOMMIT"),
            CommandOutput(
                name="nft_ruleset",
                argv=("nft", "list", "ruleset"),
                exit_status=1,
                stdout=b"",
                stderr=b"Error: Could not process rule: Operation not permitted\n",
                started_at=T0 + timedelta(seconds=2),
                duration_s=0.0,
            ),
        ),
    )


def analyse(snapshot: Snapshot) -> tuple[object, ...]:
    """Everything the parsers of this suite derive from a snapshot."""
    return (
        parse_conntrack_stats(snapshot.require("stats").text),
        parse_proc_stat(snapshot.require("stats_proc").text),
        parse_conntrack_count(snapshot.require("count").text),
        parse_sysctl_int(snapshot.require("max").text, name="max"),
        parse_sysctl_dump(snapshot.require("sysctl").text),
        parse_kernel_log(snapshot.require("kernel_log").text),
        snapshot.require("entries").text.count("\n"),
    )


def test_round_trip_keeps_every_field_and_every_finding(tmp_path: Path) -> None:
    original = make_snapshot()
    assert save(original, tmp_path / "snap") == tmp_path / "snap"
    loaded = load(tmp_path / "snap")
    assert loaded == original
    for field in dataclasses.fields(Snapshot):
        assert getattr(loaded, field.name) == getattr(original, field.name), field.name
    for before, after in zip(original.outputs, loaded.outputs, strict=True):
        assert dataclasses.astuple(before) == dataclasses.astuple(after)
    assert loaded.collected_at.tzinfo is not None
    assert loaded.get("rules_raw").stdout == b"\x00\xff\xfe*raw\r\nCOMMIT"  # type: ignore[union-attr]
    assert analyse(loaded) == analyse(original)
    stats, proc = analyse(loaded)[:2]
    assert stats.total("invalid") == proc.total("invalid") == 20  # type: ignore[attr-defined]


def test_layout_matches_the_documentation(tmp_path: Path) -> None:
    save(make_snapshot(), tmp_path, compress_threshold=1 << 20)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["format"] == "ctdiag-snapshot"
    assert manifest["format_version"] == FORMAT_VERSION == 1
    assert manifest["collected_at"] == "2025-03-04T10:12:01.250000+00:00"
    assert manifest["entry_source"] == "conntrack-cli"
    entries = manifest["outputs"][0]
    assert entries["stdout"]["file"] == "outputs/entries.stdout.gz"
    assert entries["stdout"]["compression"] == "gzip"
    assert entries["stderr"]["file"] == "outputs/entries.stderr"
    raw = gzip.decompress((tmp_path / entries["stdout"]["file"]).read_bytes())
    assert len(raw) == entries["stdout"]["size"] == len(ENTRY) * 40000
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir())[:2] == [
        "count.stderr",
        "count.stdout",
    ]
    assert not list(tmp_path.glob("*.tmp"))


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    save(make_snapshot(), tmp_path)
    with pytest.raises(SnapshotError, match="already exists"):
        save(make_snapshot(), tmp_path)


def _saved(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    save(make_snapshot(), tmp_path)
    return tmp_path, json.loads((tmp_path / MANIFEST).read_text())


def _rewrite(directory: Path, manifest: dict[str, object]) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_load_rejects_unknown_format_version(tmp_path: Path) -> None:
    directory, manifest = _saved(tmp_path)
    _rewrite(directory, {**manifest, "format_version": 2})
    with pytest.raises(SnapshotError) as info:
        load(directory)
    assert str(info.value) == (
        f"snapshot {directory}: snapshot.json: unknown format version 2 (this ctdiag reads 1)"
    )


def test_load_names_a_missing_output_file(tmp_path: Path) -> None:
    directory, _ = _saved(tmp_path)
    (directory / "outputs" / "stats.stdout").unlink()
    with pytest.raises(SnapshotError) as info:
        load(directory)
    assert str(info.value) == f"snapshot {directory}: outputs/stats.stdout: missing"


def test_load_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"snapshot\.json: No such file"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda m: {**m, "format": "other"}, "not a ctdiag-snapshot manifest"),
        (lambda m: {k: v for k, v in m.items() if k != "node"}, "'node' missing"),
        (lambda m: {**m, "collected_at": "yesterday"}, "not an ISO 8601 time"),
        (lambda m: {**m, "collected_at": "2025-03-04T10:12:01"}, "timezone-aware"),
        (lambda m: {**m, "entry_source": "magic"}, "'magic' is not a valid EntrySource"),
        (lambda m: {**m, "format_version": True}, "unknown format version True"),
    ],
)
def test_load_rejects_damaged_manifests(tmp_path: Path, damage: object, message: str) -> None:
    directory, manifest = _saved(tmp_path)
    _rewrite(directory, damage(manifest))  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=message) as info:
        load(directory)
    assert "\n" not in str(info.value) and str(directory) in str(info.value)


def test_load_rejects_corrupt_content_and_escaping_paths(tmp_path: Path) -> None:
    directory, manifest = _saved(tmp_path)
    (directory / "outputs" / "count.stdout").write_bytes(b"5\n")
    with pytest.raises(SnapshotError, match=r"outputs/count\.stdout: content does not match"):
        load(directory)
    (directory / "outputs" / "entries.stdout.gz").write_bytes(b"not gzip")
    with pytest.raises(SnapshotError, match=r"outputs/entries\.stdout\.gz: unreadable"):
        load(directory)
    outputs = manifest["outputs"]
    assert isinstance(outputs, list)
    outputs[0]["stdout"]["file"] = "../../etc/passwd"
    _rewrite(directory, manifest)
    with pytest.raises(SnapshotError, match="outside the snapshot"):
        load(directory)


def test_model_validation() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_snapshot(at=datetime(2025, 3, 4, 10, 12, 1))
    with pytest.raises(ValueError, match="not \\[a-z\\]"):
        _output("Entries/../x", ("true",), b"")
    with pytest.raises(ValueError, match="repeated: count"):
        Snapshot("n", "6.1", None, T0, EntrySource.PROC, (_output("count", (), b"1"),) * 2)
    local = datetime(2025, 3, 4, 12, 12, 1, tzinfo=timezone(timedelta(hours=2)))
    assert make_snapshot(at=local).collected_at == datetime(2025, 3, 4, 10, 12, 1, tzinfo=UTC)


def test_require() -> None:
    snapshot = make_snapshot()
    assert snapshot.require(OutputName.COUNT).ok
    assert snapshot.get("count") is snapshot.get(OutputName.COUNT)
    with pytest.raises(SnapshotError, match="no 'buckets' output"):
        snapshot.require(OutputName.BUCKETS)
    with pytest.raises(CollectionError) as info:
        snapshot.require("nft_ruleset")
    assert str(info.value) == (
        "worker-3: nft_ruleset exited 1: Error: Could not process rule: Operation not permitted"
        " [nft list ruleset]"
    )


def _stats(invalid: tuple[int, int], drop: tuple[int, int]) -> bytes:
    return "".join(
        f"cpu={cpu:<4}\tfound=0 invalid={invalid[cpu]} drop={drop[cpu]} \n" for cpu in (0, 1)
    ).encode()


def test_sample_rates_with_wrap() -> None:
    before = make_snapshot(stats=_stats((2**32 - 10, 100), (0, 0)))
    after = make_snapshot(at=T0 + timedelta(seconds=10), stats=_stats((30, 160), (5, 15)))
    sample = Sample(before, after)
    assert sample.interval_s == 10.0
    rates = sample.rates()
    assert rates.delta("invalid") == 40 + 60 and rates["invalid"] == 10.0
    assert rates["drop"] == 2.0 and rates.wrapped == ("invalid",)
    proc_rates = sample.rates(OutputName.STATS_PROC)  # same real file twice: nothing moved
    assert set(proc_rates.values()) == {0.0} and "clash_resolve" in proc_rates


def test_sample_rejects_other_node_and_wrong_order() -> None:
    with pytest.raises(SnapshotError, match="mixes nodes 'worker-3' and 'worker-4'"):
        Sample(make_snapshot(), make_snapshot(node="worker-4", at=T0 + timedelta(seconds=5)))
    with pytest.raises(SnapshotError, match="is not later than the first"):
        Sample(make_snapshot(), make_snapshot())
    with pytest.raises(SnapshotError, match="is not later"):
        Sample(make_snapshot(at=T0 + timedelta(seconds=5)), make_snapshot())
