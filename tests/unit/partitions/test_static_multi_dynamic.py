"""Static, multi-dimensional and dynamic partitions, and the state they read."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import PartitionError
from flowstone.partitions.definition import (
    PartitionsDefinition,
    PartitionState,
    StaticPartitions,
    collect_dynamic_names,
)
from flowstone.partitions.dynamic import DynamicPartitions
from flowstone.partitions.multi import MultiPartitions
from flowstone.partitions.time_window import DailyPartitions, TimeWindow

FAST = settings(max_examples=60, derandomize=True, deadline=None)
REGIONS = StaticPartitions(["us", "eu", "apac"])
DAYS = DailyPartitions("2024-01-01", "2024-01-05")
CUSTOMERS = DynamicPartitions("customers")
STATE = PartitionState(
    now=datetime(2024, 2, 1, tzinfo=UTC), dynamic={"customers": ["acme", "globex", "initech"]}
)
CUBE = MultiPartitions({"region": REGIONS, "date": DAYS, "customer": CUSTOMERS})


def _key(pairs: list[tuple[str, str]]) -> str:
    return "|".join(f"{name}={key}" for name, key in pairs)


@st.composite
def cube_keys(draw: st.DrawFn) -> dict[str, str]:
    """One valid key per dimension of ``CUBE``."""
    return {
        "customer": draw(st.sampled_from(STATE.dynamic["customers"])),
        "date": draw(st.sampled_from(DAYS.get_partition_keys())),
        "region": draw(st.sampled_from(REGIONS.keys)),
    }


# -- static --------------------------------------------------------------------------------------


def test_static_keys_keep_their_order_ranges_and_messages() -> None:
    assert REGIONS.get_partition_keys(STATE) == ("us", "eu", "apac")
    assert REGIONS.validate_key("eu", STATE) == "eu"
    assert REGIONS.key_range("us", "eu") == ("us", "eu")
    assert REGIONS.describe() == "3 static partitions (us, eu, apac)"
    with pytest.raises(
        PartitionError, match=r"'euu' is not one of 3 static keys.*Did you mean 'eu'"
    ):
        REGIONS.validate_key("euu")
    with pytest.raises(PartitionError, match=r"'eu'..'us' is backwards"):
        REGIONS.key_range("eu", "us")
    with pytest.raises(PartitionError, match="distinct, non-empty"):
        StaticPartitions(["us", "us"])
    assert StaticPartitions(["us", "eu", "apac"]) == REGIONS
    assert hash(StaticPartitions(["us", "eu", "apac"])) == hash(REGIONS)
    assert isinstance(REGIONS, PartitionsDefinition)


@FAST
@given(st.text(max_size=12))
def test_static_errors_name_the_bad_key_and_a_valid_example(key: str) -> None:
    if key in REGIONS.keys:
        return
    with pytest.raises(PartitionError) as raised:
        REGIONS.validate_key(key)
    assert repr(key) in str(raised.value) and "'us'" in str(raised.value)


# -- dynamic -------------------------------------------------------------------------------------


def test_dynamic_keys_come_from_the_state_in_the_order_added() -> None:
    assert CUSTOMERS.get_partition_keys(STATE) == ("acme", "globex", "initech")
    assert CUSTOMERS.get_partition_keys() == ()
    assert CUSTOMERS.validate_key("globex", STATE) == "globex"
    assert CUSTOMERS.key_range("acme", "globex", STATE) == ("acme", "globex")
    assert CUSTOMERS.describe() == "dynamic partitions 'customers'"
    with pytest.raises(PartitionError, match=r"'globex'..'acme' is backwards"):
        CUSTOMERS.key_range("globex", "acme", STATE)
    with pytest.raises(PartitionError, match=r"'acmee' is not one.*Did you mean 'acme'"):
        CUSTOMERS.validate_key("acmee", STATE)
    with pytest.raises(PartitionError, match=r"'acme' is unknown.*no keys yet.*add_partitions"):
        CUSTOMERS.validate_key("acme")


def test_the_state_copies_dynamic_keys_and_rejects_repeats() -> None:
    added = ["a", "b"]
    state = PartitionState(dynamic={"customers": added})
    added.append("c")
    assert CUSTOMERS.get_partition_keys(state) == ("a", "b")
    repeated = PartitionState(dynamic={"customers": ["a", "b", "a"]})
    with pytest.raises(PartitionError, match=r"'a' more than once"):
        CUSTOMERS.validate_key("a", repeated)
    assert STATE.current_time() == datetime(2024, 2, 1, tzinfo=UTC)


def test_dynamic_names_are_checked_and_found_inside_definitions() -> None:
    with pytest.raises(PartitionError, match=r"name 'bad name' is invalid"):
        DynamicPartitions("bad name")
    assert collect_dynamic_names(CUSTOMERS) == {"customers"}
    assert collect_dynamic_names(CUBE) == {"customers"}
    assert collect_dynamic_names(REGIONS) == frozenset()
    assert collect_dynamic_names(DAYS) == frozenset()
    assert collect_dynamic_names(None) == frozenset()
    assert DynamicPartitions("customers") == CUSTOMERS


# -- multi ---------------------------------------------------------------------------------------


def test_multi_dimensions_are_sorted_and_keys_are_their_product() -> None:
    both = MultiPartitions({"region": REGIONS, "date": DailyPartitions("2024-01-01", "2024-01-03")})
    assert both.dimension_names == ("date", "region")
    assert list(both.dimensions) == ["date", "region"]
    assert both.time_dimension == "date"
    assert both.get_partition_keys()[:4] == (
        "date=2024-01-01|region=us",
        "date=2024-01-01|region=eu",
        "date=2024-01-01|region=apac",
        "date=2024-01-02|region=us",
    )
    assert len(both.get_partition_keys()) == 6
    assert MultiPartitions({"a": REGIONS, "b": CUSTOMERS}).time_dimension is None
    assert both == MultiPartitions(dict(reversed(list(both.dimensions.items()))))
    assert hash(both) == hash(MultiPartitions(dict(both.dimensions)))
    assert pickle.loads(pickle.dumps(both)) == both
    assert isinstance(both, PartitionsDefinition)


@FAST
@given(cube_keys(), st.permutations(["customer", "date", "region"]))
def test_multi_keys_round_trip_from_any_dimension_order(
    keys: dict[str, str], order: list[str]
) -> None:
    canonical = CUBE.key_of(keys)
    assert canonical == _key(sorted(keys.items()))
    given_key = _key([(name, keys[name]) for name in order])
    assert CUBE.keys_by_dimension(given_key) == keys
    assert CUBE.validate_key(given_key, STATE) == canonical
    assert canonical in CUBE.get_partition_keys(STATE)


@FAST
@given(cube_keys(), st.sampled_from(["customer", "date", "region"]))
def test_a_missing_dimension_raises_naming_the_key_and_an_example(
    keys: dict[str, str], dropped: str
) -> None:
    key = _key([(name, value) for name, value in sorted(keys.items()) if name != dropped])
    with pytest.raises(PartitionError, match=rf"missing {dropped!r}") as raised:
        CUBE.validate_key(key, STATE)
    message = str(raised.value)
    assert repr(key) in message
    assert "'customer=acme|date=2024-01-01|region=us'" in message
    with pytest.raises(PartitionError, match=r"e\.g\. 'customer=<customer>\|date=2024-01-01"):
        CUBE.keys_by_dimension(key)


@FAST
@given(cube_keys(), st.sampled_from(["customer", "date", "region"]), st.text(max_size=8))
def test_an_invalid_dimension_key_names_the_key_the_dimension_and_an_example(
    keys: dict[str, str], broken: str, value: str
) -> None:
    if value in CUBE.dimensions[broken].get_partition_keys(STATE):
        return
    key = CUBE.key_of(keys).replace(f"{broken}={keys[broken]}", f"{broken}={value}")
    with pytest.raises(PartitionError) as raised:
        CUBE.validate_key(key, STATE)
    message = str(raised.value)
    assert repr(key) in message
    assert "customer=acme|date=2024-01-01|region=us" in message


def test_multi_errors_for_unknown_and_malformed_keys() -> None:
    with pytest.raises(PartitionError, match=r"unknown 'regoin' \(did you mean 'region'\?\)"):
        CUBE.keys_by_dimension("customer=acme|date=2024-01-01|regoin=us")
    with pytest.raises(PartitionError, match=r"'garbage' is malformed"):
        CUBE.keys_by_dimension("garbage")
    with pytest.raises(PartitionError, match="malformed"):
        CUBE.keys_by_dimension("region=us|region=eu|date=2024-01-01|customer=acme")
    with pytest.raises(PartitionError, match=r"missing 'date'"):
        CUBE.key_of({"customer": "acme", "region": "us"})
    with pytest.raises(PartitionError, match=r"'a\|b' of dimension 'customer'"):
        CUBE.key_of({"customer": "a|b", "date": "2024-01-01", "region": "us"})


def test_multi_key_range_is_the_box_between_its_corners() -> None:
    box = CUBE.key_range(
        "customer=acme|date=2024-01-02|region=us",
        "region=eu|date=2024-01-03|customer=globex",
        STATE,
    )
    assert len(box) == 2 * 2 * 2
    assert box[0] == "customer=acme|date=2024-01-02|region=us"
    assert box[-1] == "customer=globex|date=2024-01-03|region=eu"
    with pytest.raises(PartitionError, match=r"dimension 'date'.*backwards"):
        CUBE.key_range(
            "customer=acme|date=2024-01-03|region=us",
            "customer=acme|date=2024-01-02|region=us",
            STATE,
        )


def test_multi_construction_rejects_what_would_make_keys_ambiguous() -> None:
    with pytest.raises(PartitionError, match="two or more dimensions"):
        MultiPartitions({"region": REGIONS})
    with pytest.raises(PartitionError, match="do not nest"):
        MultiPartitions({"a": CUBE, "b": REGIONS})
    with pytest.raises(PartitionError, match=r"Dimension name 'a\|b'"):
        MultiPartitions({"a|b": REGIONS, "c": DAYS})
    with pytest.raises(PartitionError, match=r"Key 'x=y' of dimension 'kind'"):
        MultiPartitions({"kind": StaticPartitions(["x=y"]), "date": DAYS})
    with pytest.raises(PartitionError, match="2 time-window dimensions"):
        MultiPartitions({"a": DAYS, "b": DailyPartitions("2023-01-01")})
    odd = PartitionState(dynamic={"customers": ["a|b"]})
    with pytest.raises(PartitionError, match=r"Key 'a\|b' of dimension 'customer'"):
        MultiPartitions({"customer": CUSTOMERS, "region": REGIONS}).get_partition_keys(odd)


def test_a_multi_time_dimension_gives_its_window() -> None:
    key = CUBE.validate_key("date=2024-01-02|region=us|customer=acme", STATE)
    time_dimension = CUBE.time_dimension
    assert time_dimension == "date"
    days = CUBE.dimensions[time_dimension]
    assert isinstance(days, type(DAYS))
    window = days.time_window(CUBE.keys_by_dimension(key)[time_dimension])
    assert window == TimeWindow(
        datetime(2024, 1, 2, tzinfo=window.start.tzinfo),
        datetime(2024, 1, 3, tzinfo=window.start.tzinfo),
    )
    assert CUBE.describe().startswith("multi partitions (customer: dynamic partitions")
