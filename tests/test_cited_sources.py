"""What users read cites sources they have: no finding, help text, docstring or README line
names the team's internal notes, and every section of the checks guide that a message
names exists (the guide ships in the package)."""

from __future__ import annotations

import re

import pytest

from ctdiag.assess.thresholds import SPECS
from tests.paths import ROOT

INTERNAL = re.compile(r"domain\.md|conntrack-formats\.md|kube-debug-pods\.md|shared/docs|"
                      r"\bissue \d+\b")  # fmt: skip
GUIDE = ROOT / "ctdiag" / "checks" / "README.md"
CITATION = re.compile(r"ctdiag/checks/README\.md#([a-z0-9-]+)")
USER_TEXTS = sorted(
    [*(ROOT / "ctdiag").rglob("*.py"), GUIDE, ROOT / "README.md", *(ROOT / "checks").glob("*.py"),
     *(ROOT / "docs").glob("*.md")]
)  # fmt: skip


def _anchors() -> set[str]:
    return {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in GUIDE.read_text().splitlines()
        if line.startswith("## ")
    }


@pytest.mark.parametrize("path", USER_TEXTS, ids=[str(p.relative_to(ROOT)) for p in USER_TEXTS])
def test_no_reference_to_documents_users_do_not_have(path: object) -> None:
    text = path.read_text()  # type: ignore[attr-defined]
    assert INTERNAL.findall(text) == []


def test_every_cited_guide_section_exists() -> None:
    anchors = _anchors()
    cited = {m for p in USER_TEXTS for m in CITATION.findall(p.read_text())}
    assert cited, "the messages cite the guide"
    assert cited - anchors == set()


def test_every_threshold_says_where_it_comes_from() -> None:
    for spec in SPECS:
        assert spec.source and not INTERNAL.search(spec.source), spec.name
