"""`python -m ctdiag parse` as a user runs it: a real process, real captures, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.paths import CAPTURES, ROOT

GOOD = (
    b"tcp      6 431999 ESTABLISHED src=203.0.113.50 dst=198.51.100.10 sport=51234 dport=443 "
    b"src=10.0.0.21 dst=203.0.113.50 sport=8443 dport=51234 [ASSURED] mark=0 use=1\n"
)


def ctdiag(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ctdiag", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def json_lines(out: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.decode().splitlines()]


def test_listing_from_stdin_prints_the_schema() -> None:
    result = ctdiag("parse", "-", stdin=GOOD)
    assert result.returncode == 0, result.stderr
    [entry] = json_lines(result.stdout)
    assert entry["family"] == "ipv4" and entry["proto"] == "tcp" and entry["protonum"] == 6
    assert entry["orig"] == {
        "src": "203.0.113.50",
        "dst": "198.51.100.10",
        "sport": 51234,
        "dport": 443,
    }
    assert entry["reply"]["sport"] == 8443
    assert (entry["flags"], entry["zone"], entry["dnat"], entry["snat"]) == (
        ["ASSURED"],
        0,
        True,
        False,
    )
    for key in (
        "timeout",
        "state",
        "mark",
        "secctx",
        "use",
        "id",
        "delta_time",
        "helper",
        "labels",
    ):
        assert key in entry


def test_every_capture_form_reads_the_same_flows() -> None:
    plain = json_lines(ctdiag("parse", str(CAPTURES / "conntrack_L.stdout")).stdout)
    merged = json_lines(ctdiag("parse", str(CAPTURES / "conntrack_L_merged.out")).stdout)
    proc = json_lines(ctdiag("parse", str(CAPTURES / "proc_net_nf_conntrack.stdout")).stdout)
    trailer = (CAPTURES / "conntrack_L.stderr").read_text()
    assert f" {len(plain)} flow entries have been shown" in trailer
    assert merged == plain

    def key(e: dict[str, object]) -> str:
        return json.dumps(
            [
                e["proto"],
                e["orig"]["src"],
                e["orig"]["dst"],
                e["orig"].get("sport"),  # type: ignore[index]
                e["orig"].get("id"),
            ]
        )  # type: ignore[index]

    assert sorted(map(key, proc)) == sorted(map(key, plain))


def test_events_keep_their_kind_and_timestamp() -> None:
    result = ctdiag("parse", str(CAPTURES / "conntrack_E_timestamp.stdout"))
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    assert events and {e["event"] for e in events} <= {"NEW", "UPDATE", "DESTROY"}
    assert all(isinstance(e["timestamp"], float) for e in events)


def test_summary_is_one_object_with_the_aggregations() -> None:
    result = ctdiag(
        "parse", str(CAPTURES / "proc_net_nf_conntrack.stdout"), "--summary", "--top", "2"
    )
    assert result.returncode == 0, result.stderr
    [summary] = json_lines(result.stdout)
    proc_entries = len((CAPTURES / "proc_net_nf_conntrack.stdout").read_text().splitlines())
    assert summary["entries"] == proc_entries
    assert sum(summary["by_protocol"].values()) == proc_entries  # type: ignore[attr-defined]
    assert len(summary["top_sources"]) == 2  # type: ignore[arg-type]


def test_malformed_lines_go_to_stderr_with_line_numbers_and_exit_1() -> None:
    result = ctdiag("parse", stdin=GOOD + b"garbage line here\n" + GOOD + b"tcp      6 5 ESTAB")
    assert result.returncode == 1
    assert len(json_lines(result.stdout)) == 2
    err = result.stderr.decode().splitlines()
    assert err[0].startswith("<stdin>:2: malformed: ") and "garbage line here" in err[0]
    assert err[1].startswith("<stdin>:4: truncated: ")


def test_strict_stops_at_the_first_bad_line() -> None:
    result = ctdiag("parse", "--strict", stdin=GOOD + b"garbage\n")
    assert result.returncode == 2
    assert b"line 2" in result.stderr


def test_unreadable_file_is_one_line_and_exit_2() -> None:
    result = ctdiag("parse", "/nonexistent/conntrack.txt")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "ctdiag parse: cannot read /nonexistent/conntrack.txt: No such file or directory"
    )


def trailer(count: int, noun: str = "flow entries") -> bytes:
    return f"conntrack v1.4.7 (conntrack-tools): {count} {noun} have been shown.\n".encode()


def test_trailer_counting_more_flows_than_read_is_malformed_input() -> None:
    result = ctdiag("parse", stdin=GOOD * 11 + trailer(13))
    assert result.returncode == 1
    assert len(json_lines(result.stdout)) == 11
    assert result.stderr.decode().splitlines() == [
        "<stdin>: trailer says 13 flow entries, 11 were read"
    ]


def test_trailer_counting_fewer_flows_is_noted_and_exits_0() -> None:
    # Every line was read (two captures joined with one trailer, say): nothing lost.
    result = ctdiag("parse", stdin=GOOD * 3 + trailer(2))
    assert result.returncode == 0
    assert len(json_lines(result.stdout)) == 3
    assert result.stderr.decode().splitlines() == [
        "<stdin>: trailer says 2 flow entries, 3 were read"
    ]
    assert ctdiag("parse", stdin=GOOD * 2 + trailer(2)).stderr == b""


def test_events_short_of_their_trailer_exit_1() -> None:
    event = b"    [NEW] " + GOOD.replace(b" [ASSURED] mark=0 use=1", b"")
    result = ctdiag("parse", "--summary", stdin=event * 2 + trailer(5, "flow events"))
    assert result.returncode == 1 and json_lines(result.stdout)[0]["entries"] == 2
    assert result.stderr.decode().splitlines() == [
        "<stdin>: trailer says 5 flow events, 2 were read"
    ]


def test_lines_that_only_look_blank_are_malformed_and_ascii_blank_lines_are_not() -> None:
    blank = ctdiag("parse", stdin=b"\n" + GOOD + b"  \t\r\n\n" + GOOD)
    assert blank.returncode == 0 and blank.stderr == b""
    result = ctdiag("parse", stdin=GOOD + "\u00a0\n\u3000\n\ufeff\n".encode() + GOOD)
    assert result.returncode == 1
    assert len(json_lines(result.stdout)) == 2
    err = result.stderr.decode().splitlines()
    assert [line.split(": ", 1)[0] for line in err] == ["<stdin>:2", "<stdin>:3", "<stdin>:4"]
    assert err[0] == (
        "<stdin>:2: malformed: no conntrack fields, only whitespace or invisible characters "
        "(U+00A0 NO-BREAK SPACE): '\\xa0'"
    )
    assert "U+3000 IDEOGRAPHIC SPACE" in err[1] and "U+FEFF" in err[2]
