"""StaticMapping, MultiMapping and default_mapping: oracles, examples and check() errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.errors import PartitionError
from flowstone.keys import UNPARTITIONED, PartitionKey
from flowstone.partitions.definition import PartitionsDefinition, PartitionState, StaticPartitions
from flowstone.partitions.dynamic import DynamicPartitions
from flowstone.partitions.mapping import (
    AllPartitions,
    DimensionMapping,
    Identity,
    MappedKeys,
    MultiMapping,
    PartitionMapping,
    StaticMapping,
    TimeWindowMapping,
    default_mapping,
)
from flowstone.partitions.multi import MultiPartitions
from flowstone.partitions.time_window import DailyPartitions, HourlyPartitions, MonthlyPartitions

EXAMPLES = settings(max_examples=120, derandomize=True, deadline=None)
NOW = PartitionState(now=datetime(2024, 6, 15, tzinfo=UTC))
DAILY = DailyPartitions("2024-01-01", "2024-02-01")
REGIONS = StaticPartitions(["us", "eu"])
SALES = MultiPartitions({"date": DAILY, "region": REGIONS})


def multi_key(day: str, region: str) -> PartitionKey:
    return f"date={day}|region={region}"


# -- StaticMapping ------------------------------------------------------------------------------

UPSTREAM_KEYS = ("u1", "u2", "u3", "u4", "u5")
DOWNSTREAM = StaticPartitions(["d1", "d2", "d3", "d4"])
tables = st.dictionaries(
    st.sampled_from(UPSTREAM_KEYS),
    st.one_of(
        st.sampled_from(DOWNSTREAM.keys),
        st.lists(st.sampled_from(DOWNSTREAM.keys), min_size=1, max_size=3, unique=True),
    ),
    min_size=1,
)
# Upstream keys in a random order and possibly fewer than the table names, so some are missing.
static_upstreams = st.permutations(UPSTREAM_KEYS).flatmap(
    lambda keys: st.integers(1, len(keys)).map(lambda n: StaticPartitions(keys[:n]))
)


def readers(table: dict[str, str | list[str]], key: PartitionKey) -> list[PartitionKey]:
    """The upstream keys whose table entry names downstream ``key``, in table order."""
    return [u for u, d in table.items() if key == d or (isinstance(d, list) and key in d)]


@EXAMPLES
@given(tables, static_upstreams)
def test_static_mapping_reads_every_upstream_key_naming_the_key_in_upstream_order(
    table: dict[str, str | list[str]], up: StaticPartitions
) -> None:
    mapping = StaticMapping(mapping=table)
    for key in DOWNSTREAM.keys:
        named = readers(table, key)
        expected = MappedKeys(
            tuple(u for u in up.keys if u in named), tuple(u for u in named if u not in up.keys)
        )
        assert mapping.upstream_keys(DOWNSTREAM, key, up, NOW) == expected
    many = any(len(readers(table, key)) != 1 for key in DOWNSTREAM.keys)
    assert mapping.is_many(DOWNSTREAM, up) is many


def test_static_mapping_examples() -> None:
    countries = StaticPartitions(["us", "ca", "de", "fr"])
    continents = StaticPartitions(["americas", "europe", "world"])
    table = {"de": ["europe", "world"], "us": ["americas", "world"], "ca": "americas"}
    mapping = StaticMapping("sales", table, allow_missing=True)
    mapping.check(continents, countries)
    assert (mapping.target, mapping.allow_missing) == ("sales", True)
    assert mapping.upstream_keys(continents, "americas", countries, NOW) == (("us", "ca"), ())
    assert mapping.upstream_keys(continents, "world", countries, NOW) == (("us", "de"), ())
    assert mapping.is_many(continents, countries)
    assert StaticMapping(mapping=table) == StaticMapping(mapping=table)
    assert hash(StaticMapping(mapping=table)) == hash(StaticMapping(mapping=table))


def test_static_mapping_one_to_one_is_a_single_value() -> None:
    mapping = StaticMapping(mapping={"us": "americas", "de": "europe"})
    assert not mapping.is_many(StaticPartitions(["americas", "europe"]), REGIONS)
    # A dynamic downstream can gain keys that the table does not name: those read nothing.
    assert mapping.is_many(DynamicPartitions("areas"), REGIONS)


def test_static_mapping_from_dynamic_keys_reports_keys_not_added_yet() -> None:
    state = PartitionState(dynamic={"customers": ["acme"]})
    mapping = StaticMapping(mapping={"acme": "big", "zeta": "big"})
    mapping.check(StaticPartitions(["big"]), DynamicPartitions("customers"))
    found = mapping.upstream_keys(
        StaticPartitions(["big"]), "big", DynamicPartitions("customers"), state
    )
    assert found == MappedKeys(("acme",), ("zeta",))


@pytest.mark.parametrize(
    ("table", "down", "up", "message"),
    [
        ({"uss": "x"}, StaticPartitions(["x"]), REGIONS, r"upstream keys \['uss'\].*'us'\?"),
        ({"us": "americs"}, StaticPartitions(["americas"]), REGIONS, r"downstream.*'americas'\?"),
        ({"us": "x"}, StaticPartitions(["x"]), None, r"upstream keys \['us'\].*unpartitioned"),
    ],
)
def test_static_mapping_check_rejects_keys_the_static_sides_lack(
    table: dict[str, str], down: PartitionsDefinition, up: PartitionsDefinition | None, message: str
) -> None:
    with pytest.raises(PartitionError, match=message):
        StaticMapping(mapping=table).check(down, up)


@pytest.mark.parametrize("table", [None, {}, {"us": []}, {"us": 3}, {4: "x"}])
def test_a_malformed_static_table_is_rejected_when_built(table: object) -> None:
    with pytest.raises(PartitionError, match=r"StaticMapping.*e\.g\."):
        StaticMapping(mapping=table)  # type: ignore[arg-type]


# -- MultiMapping ---------------------------------------------------------------------------------


def test_multi_mapping_windows_one_dimension_and_keeps_the_other() -> None:
    mapping = MultiMapping(dimensions={"date": TimeWindowMapping(start_offset=-2)})
    mapping.check(SALES, SALES)
    assert mapping.is_many(SALES, SALES)
    found = mapping.upstream_keys(SALES, "region=eu|date=2024-01-05", SALES, NOW)
    days = ("2024-01-03", "2024-01-04", "2024-01-05")
    assert found == MappedKeys(tuple(multi_key(d, "eu") for d in days), ())
    first = mapping.upstream_keys(SALES, multi_key("2024-01-01", "us"), SALES, NOW)
    assert first.keys == (multi_key("2024-01-01", "us"),)
    assert first.missing == (multi_key("2023-12-30", "us"), multi_key("2023-12-31", "us"))


def test_multi_mapping_maps_a_static_dimension_through_a_table() -> None:
    down = MultiPartitions({"date": DAILY, "region": StaticPartitions(["americas", "europe"])})
    up = MultiPartitions({"date": DAILY, "region": StaticPartitions(["us", "ca", "de"])})
    table = StaticMapping(mapping={"us": "americas", "de": "europe", "ca": "americas"})
    mapping = MultiMapping("sales", {"region": table}, allow_missing=True)
    mapping.check(down, up)
    assert (mapping.target, mapping.allow_missing, mapping.is_many(down, up)) == (
        "sales",
        True,
        True,
    )
    found = mapping.upstream_keys(down, multi_key("2024-01-05", "americas"), up, NOW)
    assert found.keys == (multi_key("2024-01-05", "us"), multi_key("2024-01-05", "ca"))
    assert hash(mapping) == hash(MultiMapping("sales", {"region": table}, allow_missing=True))


@EXAMPLES
@given(
    st.integers(0, 30),
    st.sampled_from(REGIONS.keys),
    st.integers(-4, 0),
    st.integers(0, 4),
    st.sampled_from([("us",), ("eu",), ("us", "eu")]),
)
def test_multi_mapping_keys_are_the_upstream_keys_whose_parts_match(
    day: int, region: str, start_offset: int, end_offset: int, up_regions: tuple[str, ...]
) -> None:
    up = MultiPartitions({"date": DAILY, "region": StaticPartitions(up_regions)})
    key = (datetime(2024, 1, 1) + timedelta(days=day)).date().isoformat()
    mapping = MultiMapping(
        dimensions={"date": TimeWindowMapping(start_offset=start_offset, end_offset=end_offset)}
    )
    found = mapping.upstream_keys(SALES, multi_key(key, region), up, NOW)
    first, last = DAILY.time_window(key).start, DAILY.time_window(key).end
    start = first + timedelta(days=start_offset)
    end = last + timedelta(days=end_offset)
    expected = [
        k
        for k in up.get_partition_keys(NOW)
        if up.keys_by_dimension(k)["region"] == region
        and DAILY.time_window(up.keys_by_dimension(k)["date"]).start < end
        and start < DAILY.time_window(up.keys_by_dimension(k)["date"]).end
    ]
    assert found.keys == tuple(expected)
    assert len(found.keys) + len(found.missing) == end_offset - start_offset + 1


@pytest.mark.parametrize(
    ("mapping", "down", "up", "message"),
    [
        (MultiMapping(dimensions={"regoin": Identity()}), SALES, SALES, r"'regoin'.*'region'\?"),
        (MultiMapping(), DAILY, SALES, r"MultiMapping cannot map downstream daily"),
        (
            MultiMapping(),
            MultiPartitions({"day": DAILY, "region": REGIONS}),
            SALES,
            r"same dimensions.*day, region.*date, region",
        ),
        (
            MultiMapping(dimensions={"region": TimeWindowMapping()}),
            SALES,
            SALES,
            r"TimeWindowMapping\(\) cannot map downstream 2 static partitions",
        ),
    ],
)
def test_multi_mapping_check_names_the_dimension_at_fault(
    mapping: MultiMapping, down: PartitionsDefinition, up: PartitionsDefinition, message: str
) -> None:
    with pytest.raises(PartitionError, match=message):
        mapping.check(down, up)


@pytest.mark.parametrize(
    ("dimensions", "message"),
    [
        ({"date": TimeWindowMapping("orders")}, r"names an upstream asset \('orders'\)"),
        ({"date": MultiMapping()}, r"not a mapping of one dimension"),
        ({"date": "daily"}, r"not a mapping of one dimension"),
    ],
)
def test_multi_mapping_dimensions_are_checked_when_built(
    dimensions: dict[str, PartitionMapping], message: str
) -> None:
    with pytest.raises(PartitionError, match=message):
        MultiMapping(dimensions=dimensions)


# -- default_mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "up", "expected"),
    [
        (None, None, Identity()),
        (DAILY, None, Identity()),
        (None, REGIONS, AllPartitions()),
        (REGIONS, StaticPartitions(["us", "eu"]), Identity()),
        (MonthlyPartitions("2024-01-01"), DAILY, TimeWindowMapping()),
        (DAILY, HourlyPartitions("2024-01-01"), TimeWindowMapping()),
        (REGIONS, DAILY, None),
        (REGIONS, StaticPartitions(["us"]), None),
        (SALES, MultiPartitions({"date": DAILY, "country": REGIONS}), None),
        (MultiPartitions({"a": REGIONS, "b": REGIONS}), REGIONS, None),
    ],
)
def test_default_mapping_per_pair_of_definitions(
    down: PartitionsDefinition | None,
    up: PartitionsDefinition | None,
    expected: PartitionMapping | None,
) -> None:
    assert default_mapping(down, up) == expected


def test_default_mapping_reads_the_unpartitioned_key() -> None:
    mapping = default_mapping(DAILY, None)
    assert mapping is not None
    assert mapping.upstream_keys(DAILY, "2024-01-02", None, NOW) == ((UNPARTITIONED,), ())


def test_default_mapping_from_a_multi_asset_reads_its_matching_dimension() -> None:
    mapping = default_mapping(SALES, REGIONS)
    assert mapping is not None and mapping.target is None and not mapping.allow_missing
    mapping.check(SALES, REGIONS)
    assert not mapping.is_many(SALES, REGIONS)
    assert mapping.upstream_keys(SALES, multi_key("2024-01-05", "eu"), REGIONS, NOW) == (
        ("eu",),
        (),
    )
    with pytest.raises(PartitionError, match=r"DimensionMapping\(dimension='region'\) cannot map"):
        mapping.check(REGIONS, REGIONS)


def test_default_mapping_into_a_multi_asset_reads_the_slice_as_a_dict() -> None:
    mapping = default_mapping(DAILY, SALES)
    assert mapping is not None
    mapping.check(DAILY, SALES)
    assert mapping.is_many(DAILY, SALES)
    found = mapping.upstream_keys(DAILY, "2024-01-05", SALES, NOW)
    assert found == ((multi_key("2024-01-05", "us"), multi_key("2024-01-05", "eu")), ())


def test_a_multi_asset_reads_a_daily_asset_with_another_start_through_its_time_dimension() -> None:
    earlier = DailyPartitions("2023-12-01", "2024-02-01")
    mapping = default_mapping(SALES, earlier)
    assert mapping == DimensionMapping(dimension="date")
    mapping.check(SALES, earlier)
    assert not mapping.is_many(SALES, earlier)
    assert mapping.upstream_keys(SALES, multi_key("2024-01-05", "eu"), earlier, NOW) == (
        ("2024-01-05",),
        (),
    )


def test_a_month_reads_its_days_in_every_region_of_a_multi_asset() -> None:
    months = MonthlyPartitions("2024-01-01", "2024-02-01")
    mapping = default_mapping(months, SALES)
    assert mapping == DimensionMapping(dimension="date")
    mapping.check(months, SALES)
    found = mapping.upstream_keys(months, "2024-01", SALES, NOW)
    assert len(found.keys) == 31 * 2 and not found.missing
    assert found.keys[:2] == (multi_key("2024-01-01", "us"), multi_key("2024-01-01", "eu"))


def test_a_dimension_mapping_carries_its_own_mapping_and_checks_the_dimension() -> None:
    lagged = DimensionMapping(dimension="date", mapping=TimeWindowMapping(start_offset=-1))
    found = lagged.upstream_keys(SALES, multi_key("2024-01-01", "us"), DAILY, NOW)
    assert found == (("2024-01-01",), ("2023-12-31",))
    assert lagged.is_many(SALES, DAILY)
    with pytest.raises(PartitionError, match="Did you mean 'date'"):
        DimensionMapping(dimension="dates").check(SALES, DAILY)
    with pytest.raises(PartitionError, match="has no mapping between"):
        DimensionMapping(dimension="region").check(SALES, DAILY)
