"""Label and field selectors of the lab API server, as pure functions."""

from __future__ import annotations

import pytest

from ctdiag.lab.apiserver.selectors import (
    Operator,
    SelectorError,
    field_value,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "version": "3", "managed": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (db, web)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("managed", True),
        ("managed=", True),
        ("version>2", True),
        ("version<3", False),
        ("app=web,tier=front", True),
        ("app=web, tier in (back)", False),
        ("app in (web,db),!missing,version>1", True),
        ("example.com/owner", False),
    ],
)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


def test_label_selector_terms_are_typed() -> None:
    parsed = parse_label_selector("a in (x, y),!b,c!=d,debug.openshift.io/managed-by=oc-debug")
    ops = [r.operator for r in parsed.requirements]
    assert ops == [Operator.IN, Operator.DOES_NOT_EXIST, Operator.NOT_EQUALS, Operator.EQUALS]
    assert parsed.requirements[0].values == frozenset({"x", "y"})
    assert parsed.requirements[3].key == "debug.openshift.io/managed-by"


def test_no_labels_match_only_negative_terms() -> None:
    assert parse_label_selector("!a,b!=c,d notin (e)").matches(None)
    assert not parse_label_selector("a").matches(None)


@pytest.mark.parametrize(
    "selector", ["a in (x", "a=b)", "=b", "a=b c", "a in (x y)", "-a=b", "a>x", ",", "a=b,"]
)
def test_bad_label_selectors_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


POD = {
    "metadata": {"name": "p1", "namespace": "ns"},
    "spec": {"nodeName": "node1", "hostNetwork": True},
    "status": {"phase": "Running"},
}
POD_FIELDS = frozenset(
    {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.hostNetwork"}
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=p1", True),
        ("metadata.name==p1", True),
        ("metadata.name!=p1", False),
        ("spec.nodeName=node1,status.phase=Running", True),
        ("spec.nodeName=node1,status.phase!=Running", False),
        ("metadata.namespace=other", False),
        ("spec.hostNetwork=true", True),
        ("status.phase=", False),
    ],
)
def test_field_selector_matches(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector, POD_FIELDS).matches(POD) is expected


def test_field_selector_escapes() -> None:
    parsed = parse_field_selector(r"metadata.name=a\,b", POD_FIELDS)
    assert parsed.matches({"metadata": {"name": "a,b"}})
    assert len(parsed.requirements) == 1


def test_unsupported_field_is_refused_like_the_api() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("spec.foo=x", POD_FIELDS)
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name", POD_FIELDS)


def test_field_value_of_missing_paths_is_empty() -> None:
    assert field_value(POD, "status.podIP") == ""
    assert field_value(POD, "metadata.name.deeper") == ""
    assert field_value(POD, "spec.nodeName") == "node1"
