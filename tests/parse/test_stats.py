"""F7 (``conntrack -S``) and F9 (``/proc/net/stat/nf_conntrack``) counters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.analyze.rates import counter_rates
from ctdiag.errors import ParseError
from ctdiag.parse.stats import (
    StatsSource,
    Vocabulary,
    canonical_name,
    counter_delta,
    parse_conntrack_stats,
    parse_proc_stat,
    parse_stats,
)
from tests.paths import STATS_DATA as DATA

# conntrack-formats.md section 8, verbatim (kernel >= 5.15, 2 CPUs).
F9_515 = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
000001f4  00000003 00000000 00000000 0000002a 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000005  00000000 00000000 00000000 00000012
000001f4  00000001 00000000 00000000 00000017 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002  00000000 00000000 00000000 00000009
"""  # noqa: E501
# Older headers of the same section's table; old kernels end every row with a space.
F9_OLD16 = (
    "entries  searched found new invalid ignore delete delete_list insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete \n"
    "00000010  00000000 00000005 00000000 00000002 00000001 00000000 00000000 00000000 "
    "00000000 00000000 00000000 00000000  00000000 00000000 00000000 \n"
)
F9_49 = (
    "entries  searched found new invalid ignore delete delete_list insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
    + "00000010  00000000 00000005 00000000 00000002 00000001 00000000 00000000 00000000 "
    "00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000004\n" * 3
)
F9_510 = F9_49.replace("searched", "clashres")
# Section 9.3 example (tools 1.4.8, kernel 6.x), with its TAB and trailing space.
F7_615 = (
    "cpu=0   \tfound=0 invalid=42 insert=0 insert_failed=1 drop=1 early_drop=0 error=5 "
    "search_restart=18 clash_resolve=3 chaintoolong=0 \n"
    "cpu=1   \tfound=0 invalid=23 insert=0 insert_failed=0 drop=0 early_drop=0 error=2 "
    "search_restart=9 clash_resolve=1 chaintoolong=0 \n"
)
F7_510 = (
    "cpu=0   \tfound=0 invalid=4 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 "
    "search_restart=1 clash_resolve=2 \n"
)
F7_HOTPATH_CLEANUP = (
    "cpu=0   \tfound=0 invalid=4 ignore=7 insert=0 insert_failed=0 drop=0 early_drop=0 "
    "error=0 search_restart=1 \n"
)
F7_36_ERA = (
    "cpu=0   \tsearched=10 found=5 new=3 invalid=4 ignore=7 delete=2 delete_list=2 insert=3 "
    "insert_failed=0 drop=0 early_drop=0 error=0 search_restart=1 \n"
)
F7_UNKNOWN = (
    "cpu=0   \tfound=0 invalid=1 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 "
    "search_restart=0 clash_resolve=0 chaintoolong=0 unknown1=7 unknown2=0 \n"
)
# The /proc fallback of conntrack -S: F9 names, decimal values, rows numbered from 0.
F7_FALLBACK = (
    "cpu=0   \tentries=500 clashres=3 found=0 new=0 invalid=42 ignore=0 delete=0 chainlength=0 "
    "insert=0 insert_failed=1 drop=1 early_drop=0 icmp_error=5 expect_new=0 expect_create=0 "
    "expect_delete=0 search_restart=18 \n"
    "cpu=1   \tentries=500 clashres=1 found=0 new=0 invalid=23 ignore=0 delete=0 chainlength=0 "
    "insert=0 insert_failed=0 drop=0 early_drop=0 icmp_error=2 expect_new=0 expect_create=0 "
    "expect_delete=0 search_restart=9 \n"
)
F7_EXPECT = "cpu=0   \texpect_new=1 expect_create=2 expect_delete=1 \n"


def test_f9_modern_example_totals() -> None:
    stats = parse_proc_stat(F9_515)
    assert stats.source is StatsSource.PROC_FILE
    assert stats.vocabulary is Vocabulary.PROC
    assert len(stats.cpus) == 2
    assert [row.cpu for row in stats.cpus] == [0, 1]
    assert stats.entries == 500
    assert stats.total("entries") == 500  # repeated per row, never summed
    assert stats.total("invalid") == 65
    assert stats.total("insert_failed") == 1
    assert stats.total("drop") == 1
    assert stats.total("error") == stats.total("icmp_error") == 7
    assert stats.total("search_restart") == 27
    assert stats.total("clash_resolve") == stats.total("clashres") == 4
    assert stats.total("chaintoolong") == 0
    assert "entries" not in stats.reported
    assert not stats.has("searched") and not stats.has("delete_list")
    assert stats.complete and stats.lines_read == 3


@pytest.mark.parametrize(
    ("text", "columns", "has_restart", "has_clash"),
    [(F9_OLD16, 16, False, False), (F9_49, 17, True, False), (F9_510, 17, True, True)],
)
def test_f9_older_headers(text: str, columns: int, has_restart: bool, has_clash: bool) -> None:
    stats = parse_proc_stat(text)
    assert len(stats.reported) == columns - 1  # entries is kept apart
    assert stats.has("search_restart") is has_restart
    assert stats.has("clash_resolve") is has_clash
    assert stats.has("searched") is not has_clash
    assert stats.has("delete_list") and not stats.has("chaintoolong")
    rows = len(stats.cpus)
    assert stats.total("found") == 5 * rows and stats.total("ignore") == rows
    assert stats.entries == 16


def test_f9_maps_columns_by_name_not_position() -> None:
    lines = F9_515.splitlines()
    names, row = lines[0].split(), lines[1].split()
    order = list(reversed(range(len(names))))
    shuffled = " ".join(names[i] for i in order) + "\n" + " ".join(row[i] for i in order) + "\n"
    assert parse_proc_stat(shuffled).cpus[0].counters != parse_proc_stat(F9_515).cpus[0].counters
    assert parse_proc_stat(shuffled).total("invalid") == 42
    assert parse_proc_stat(shuffled).total("error") == 5


def test_f7_modern_example() -> None:
    stats = parse_conntrack_stats(F7_615)
    assert stats.source is StatsSource.CONNTRACK_CLI
    assert stats.vocabulary is Vocabulary.CTNETLINK
    assert stats.reported == (
        "found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
        "search_restart", "clash_resolve", "chaintoolong",
    )  # fmt: skip
    assert stats.total("invalid") == 65 and stats.total("clashres") == 4
    assert stats.entries is None
    assert stats.cpu(1) is not None and stats.cpu(1).get("icmp_error") == 2  # type: ignore[union-attr]
    assert stats.cpu(7) is None


def test_f7_absent_is_not_zero() -> None:
    stats = parse_conntrack_stats(F7_510)
    assert stats.total("chaintoolong") is None and not stats.has("chaintoolong")
    assert stats.total("clash_resolve") == 2
    older = parse_conntrack_stats(F7_HOTPATH_CLEANUP)
    assert older.total("ignore") == 7 and older.total("clash_resolve") is None
    oldest = parse_conntrack_stats(F7_36_ERA)
    assert oldest.total("searched") == 10 and oldest.total("delete_list") == 2
    assert oldest.vocabulary is Vocabulary.CTNETLINK


def test_f7_unknown_counters_kept() -> None:
    stats = parse_conntrack_stats(F7_UNKNOWN)
    assert stats.total("unknown1") == 7 and stats.total("unknown2") == 0
    assert stats.total("unknown3") is None


def test_f7_fallback_vocabulary_equals_f9_and_netlink() -> None:
    fallback = parse_conntrack_stats(F7_FALLBACK)
    proc = parse_proc_stat(F9_515)
    netlink = parse_conntrack_stats(F7_615)
    assert fallback.vocabulary is Vocabulary.PROC
    assert fallback.source is StatsSource.CONNTRACK_CLI
    assert fallback.totals == proc.totals
    assert fallback.entries == proc.entries == 500
    for name in netlink.reported:
        assert fallback.total(name) == proc.total(name) == netlink.total(name), name


def test_f7_expect_variant() -> None:
    stats = parse_conntrack_stats(F7_EXPECT)
    assert stats.total("expect_create") == 2


def test_parse_stats_recognises_both() -> None:
    assert parse_stats(F9_515).source is StatsSource.PROC_FILE
    assert parse_stats("\n" + F7_615).source is StatsSource.CONNTRACK_CLI


def test_canonical_names() -> None:
    assert [canonical_name(n) for n in ("clashres", "chainlength", "icmp_error")] == [
        "clash_resolve", "chaintoolong", "error",
    ]  # fmt: skip
    assert canonical_name("searched") == "searched"
    assert canonical_name("delete_list") == "delete_list"
    assert canonical_name("unknown3") == "unknown3"


F7_BROKEN = (
    "cpu=0   \tfound=0 invalid=5 drop=1 \n"
    "conntrack v1.4.7 (conntrack-tools): Operation failed: Interrupted\n"
    "cpu=1   \tfound=0 invalid=x drop=1 \n"
    "\n"
    "cpu=2   \tfound=0 invalid drop=1 \n"
    "cpu=0   \tfound=0 invalid=1 drop=1 \n"
    "cpu=3   \tfound=0 invalid=1 invalid=2 \n"
    "cpu=4   \tdrop=4294967296 \n"
    "cpu=5   \tfound=1 invalid=2 drop=3 \n"
)


def test_f7_lenient_keeps_malformed_rows_with_line_numbers() -> None:
    stats = parse_conntrack_stats(F7_BROKEN)
    assert [row.cpu for row in stats.cpus] == [0, 5]
    assert [bad.line_no for bad in stats.malformed] == [2, 3, 5, 6, 7, 8]
    assert stats.malformed[0].text.startswith("conntrack v1.4.7")
    assert "repeated" in stats.malformed[3].reason
    assert "32 bits" in stats.malformed[5].reason
    assert not stats.complete
    assert stats.total("invalid") == 7 and stats.lines_read == 9


def test_f7_strict_raises_on_first_bad_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_conntrack_stats(F7_BROKEN, strict=True)
    assert info.value.line_no == 2
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_empty_input_is_an_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_conntrack_stats(text)
    with pytest.raises(ParseError):
        parse_proc_stat(text)


def test_f9_without_header_is_an_error_even_leniently() -> None:
    body = "".join(F9_515.splitlines(keepends=True)[1:])
    with pytest.raises(ParseError, match="no header") as info:
        parse_proc_stat(body)
    assert info.value.line_no == 1


def test_f9_malformed_rows() -> None:
    header, first, second = F9_515.splitlines()
    text = "\n".join(
        [header, first, first.rsplit(" ", 1)[0], second.replace("00000009", "0000000g"),
         second.replace("00000009", "100000009"), second]
    )  # fmt: skip
    stats = parse_proc_stat(text)
    assert [bad.line_no for bad in stats.malformed] == [3, 4, 5]
    assert "16 values under 17" in stats.malformed[0].reason
    assert [row.line_no for row in stats.cpus] == [2, 6]
    # Rows carry no CPU number: a malformed row still takes its CPU slot.
    assert [row.cpu for row in stats.cpus] == [0, 4]
    with pytest.raises(ParseError) as info:
        parse_proc_stat(text, strict=True)
    assert info.value.line_no == 3


def test_counter_delta() -> None:
    assert counter_delta(5, 9) == 4
    assert counter_delta(0xFFFFFFF0, 0x10) == 0x20
    assert counter_delta(7, 7) == 0
    assert counter_delta(2**40, 2**40 + 3, bits=64) == 3
    with pytest.raises(ValueError, match="32 bits"):
        counter_delta(0, 2**32)
    with pytest.raises(ValueError):
        counter_delta(-1, 0)


def test_counter_rates_handle_wrap_per_cpu() -> None:
    header = "entries invalid drop"
    before = parse_proc_stat(f"{header}\n00000001 fffffff0 00000000\n00000001 00000010 00000000\n")
    after = parse_proc_stat(f"{header}\n00000002 00000010 00000000\n00000002 00000020 00000004\n")
    # Summed first, invalid would look like it fell by ~4e9; per CPU it rose by 0x20 + 0x10.
    rates = counter_rates(before, after, 4.0)
    assert rates.delta("invalid") == 0x30 and rates["invalid"] == 12.0
    assert rates["drop"] == 1.0 and rates.wrapped == ("invalid",)
    assert dict(rates) == {"invalid": 12.0, "drop": 1.0}
    assert rates.cpus_compared == (0, 1)
    with pytest.raises(KeyError):
        rates["clash_resolve"]
    with pytest.raises(ValueError):
        counter_rates(before, after, 0)


NAMES_515 = F9_515.split("\n", 1)[0].split()


@given(st.lists(st.lists(st.integers(0, 2**32 - 1), min_size=17, max_size=17), min_size=1,
                max_size=8))  # fmt: skip
def test_property_f9_and_fallback_f7_agree(rows: list[list[int]]) -> None:
    entries = rows[0][0]
    f9 = "  ".join(["entries", " ".join(NAMES_515[1:])]) + "\n"
    f7 = ""
    for cpu, values in enumerate(rows):
        values = [entries, *values[1:]]
        f9 += " ".join(f"{value:08x}" for value in values) + " \n"
        pairs = " ".join(f"{n}={v}" for n, v in zip(NAMES_515, values, strict=True))
        f7 += f"cpu={cpu:<4}\t{pairs} \n"
    proc, cli = parse_proc_stat(f9, strict=True), parse_conntrack_stats(f7, strict=True)
    assert proc.totals == cli.totals and proc.entries == cli.entries == entries
    assert proc.total("invalid") == sum(values[4] for values in rows)


# Real captures of this machine's kernel (see data/stats/README.md).


def _real(name: str) -> str:
    return (DATA / name).read_text()


def test_real_captures_are_consistent() -> None:
    cli = parse_conntrack_stats(_real("conntrack-S.txt"), strict=True)
    proc = parse_proc_stat(_real("proc-net-stat-nf_conntrack.txt"), strict=True)
    assert cli.vocabulary is Vocabulary.CTNETLINK and proc.vocabulary is Vocabulary.PROC
    assert len(cli.cpus) == len(proc.cpus)
    assert cli.total("invalid") == proc.total("invalid") and cli.total("invalid")
    for name in cli.reported:
        assert cli.total(name) == proc.total(name), name
    for left, right in zip(cli.cpus, proc.cpus, strict=True):
        assert left.get("invalid") == right.get("invalid")
    assert proc.entries == int(_real("conntrack-C.txt"))
    # A 6.18 kernel: >= 5.15 vocabulary on both sides, chaintoolong reported.
    assert proc.has("chaintoolong") and cli.has("chaintoolong")
    assert not proc.has("searched") and not proc.has("delete_list")
