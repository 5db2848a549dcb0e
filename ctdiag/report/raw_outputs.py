"""A node's raw outputs attached to the report: collapsed, escaped, capped with a note.

Attached once per node (each check links to them): a listing of a million flows, or a large
cluster's ``iptables-save``, would otherwise be copied into the file once per check.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctdiag.report.model import RawOutput
from ctdiag.report.redact import Redactor

#: Lines of each raw output attached to the report (``--report-lines``).
DEFAULT_OUTPUT_LINES = 1000


def output_anchor(node_anchor: str, name: str) -> str:
    """The element id of output ``name`` of a node (output names are ``[a-z][a-z0-9_]*``)."""
    return f"{node_anchor}-out-{name}"


def _extent(output: RawOutput) -> str:
    if not output.truncated:
        return f"{output.lines:,} lines, {output.size:,} bytes"
    return (
        f"first {output.shown_lines:,} of {output.lines:,} lines "
        f"({len(output.head.encode()):,} of {output.size:,} bytes; the whole output is in the "
        "node's snapshot)"
    )


def _one(node_anchor: str, output: RawOutput, esc: Redactor) -> str:
    status = "" if output.exit_status == 0 else f", exit status {output.exit_status}"
    stderr = f"<p>stderr:</p><pre>{esc.html(output.stderr)}</pre>" if output.stderr.strip() else ""
    stdout = f"<pre>{esc.html(output.head)}</pre>" if output.head else "<p>(no output)</p>"
    return (
        f'<details id="{esc.html(output_anchor(node_anchor, output.name))}"><summary>'
        f"<b>{esc.html(output.name)}</b>: <code>{esc.html(output.command)}</code>{status}, "
        f"{output.duration_s:.2f} s, {_extent(output)}</summary>{stdout}{stderr}</details>"
    )


def outputs_html(node_anchor: str, outputs: Sequence[RawOutput], esc: Redactor) -> str:
    """Every raw output of a node, each in its own collapsed block, inside one block."""
    if not outputs:
        return ""
    items = "".join(_one(node_anchor, output, esc) for output in outputs)
    return (
        f'<details class="ctdiag-outputs" id="{node_anchor}-outputs"><summary><b>Raw outputs '
        f"({len(outputs)})</b></summary>{items}</details>"
    )
