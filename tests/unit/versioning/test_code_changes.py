"""Naming what changed between two code versions, and the code cause that carries it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flowstone.keys import UNPARTITIONED
from flowstone.versioning import CauseKind, compute_code_version
from flowstone.versioning.code_changes import CodeChange, describe_code_changes, diff_breakdowns
from flowstone.versioning.code_version import code_version_and_breakdown
from flowstone.versioning.staleness import ItemFacts, Recorded, judge

BODY = ("shop.etl:clean_orders", "body", "b1")
HELPER = ("shop.etl:normalise", "function", "h1")
CONFIG = ("shop.etl:Config", "class", "c1")
STOPWORDS = ("shop.hn:STOPWORDS", "constant", "('a',)")

entries = st.lists(
    st.tuples(st.sampled_from(["m:a", "m:b", "n:C", "n:D"]), st.just("function"), st.text()),
    unique_by=lambda entry: entry[0],
)


def _said(before: list[tuple[str, str, str]], after: list[tuple[str, str, str]]) -> str:
    return describe_code_changes(diff_breakdowns(before, after), "v1", "v2")


def test_each_kind_of_part_is_named_as_users_know_it() -> None:
    assert _said([BODY, HELPER], [BODY, ("shop.etl:normalise", "function", "h2")]) == (
        "code changed: helper normalise() in etl.py"
    )
    assert _said([STOPWORDS], [("shop.hn:STOPWORDS", "expression", "x")]) == (
        "code changed: constant STOPWORDS in hn.py"
    )
    assert _said([CONFIG], [("shop.etl:Config", "class", "c2")]) == (
        "code changed: class Config in etl.py"
    )
    assert _said([BODY], [("shop.etl:clean_orders", "body", "b2")]) == (
        "code changed: the body of clean_orders"
    )
    given_before, given_after = [("code_version", "given", "1")], [("code_version", "given", "2")]
    changes = diff_breakdowns(given_before, given_after)
    assert describe_code_changes(changes, "1", "2") == "code changed: code_version '1' -> '2'"


def test_added_and_removed_parts_say_so() -> None:
    assert _said([BODY, HELPER], [BODY, CONFIG]) == (
        "code changed: class Config in etl.py (added), helper normalise() in etl.py (removed)"
    )


def test_more_than_three_changes_are_counted() -> None:
    before = [(f"m:f{i}", "function", "1") for i in range(5)]
    after = [(f"m:f{i}", "function", "2") for i in range(5)]
    assert _said(before, after) == (
        "code changed: helper f0() in m.py, helper f1() in m.py, helper f2() in m.py and 2 more"
    )


@given(entries, entries)
def test_the_diff_lists_exactly_the_parts_that_differ(
    before: list[tuple[str, str, str]], after: list[tuple[str, str, str]]
) -> None:
    named = {change.name: change.change for change in diff_breakdowns(before, after)}
    old, new = {e[0]: e for e in before}, {e[0]: e for e in after}
    assert set(named) == {name for name in old | new if old.get(name) != new.get(name)}
    assert all((name in old) == (change != "added") for name, change in named.items())
    assert diff_breakdowns(after, after) == ()


def _code_cause(
    recorded: tuple[tuple[str, str, str], ...] | None,
) -> tuple[str, tuple[CodeChange, ...]]:
    facts = ItemFacts(
        "clean_orders", UNPARTITIONED, "v2", None,
        Recorded("v1", "p1", "d1", {}, breakdown=recorded), (),
        breakdown=(BODY, ("shop.etl:normalise", "function", "h2")),
    )  # fmt: skip
    [cause] = judge(facts).causes
    assert cause.kind is CauseKind.CODE
    return cause.message, cause.changes


def test_the_code_cause_names_what_changed_when_the_recorded_breakdown_is_known() -> None:
    message, changes = _code_cause((BODY, HELPER))
    assert message == "code changed: helper normalise() in etl.py"
    assert changes == (CodeChange("shop.etl:normalise", "function", "changed"),)


def test_a_record_made_before_breakdowns_says_plain_code_changed() -> None:
    assert _code_cause(None) == ("code changed", ())


def _helper(value: int) -> int:
    return value * 2


class _Settings:
    factor = 3


def _asset() -> int:
    return _helper(_Settings.factor)


def test_the_breakdown_does_not_change_the_code_version() -> None:
    version, parts = code_version_and_breakdown(_asset)
    assert version == compute_code_version(_asset)
    kinds = {name.rpartition(":")[2]: kind for name, kind, _ in parts}
    assert kinds["_asset"] == "body" and kinds["_helper"] == "function"
    assert kinds["_Settings"] == "class"
