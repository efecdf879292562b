"""Data versions: golden values, canonical equality, kind tags, fallbacks and library values."""

from __future__ import annotations

import copy
import dataclasses
import enum
import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowstone.versioning.data_version import hash_value

ROOT = Path(__file__).parents[3]


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 1


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: list[int]


@dataclasses.dataclass(frozen=True)
class Vector:
    x: int
    y: list[int]


class Customer(pydantic.BaseModel):
    name: str
    since: date


class Money:
    """A user type with its own registered handler."""

    def __init__(self, currency: str, cents: int) -> None:
        self.currency = currency
        self.cents = cents


@hash_value.register(Money)
def _hash_money(value: Money) -> str | None:
    if value.cents < 0:
        return None  # the handler's way to say "no version for this one"
    return hash_value((value.currency, value.cents))


class Opaque:
    """A type nothing knows how to hash."""


GOLDEN: list[tuple[str, object, str]] = [
    ("int", 1, "fbdab3ae50ab1dfad3de5bc394017edb"),
    ("float", 1.0, "f6d69b4e9129c36748592c180ea0c3b8"),
    ("str", "1", "7341bfb47fa1357365bde60078bdb89b"),
    ("bytes", b"1", "b7f464478768e32ce668eb1fd71b8727"),
    ("bool", True, "a3783732080215e8aff1c9cc617bc0ea"),
    ("none", None, "8fe9e96171e7282c48a14aec6f380c86"),
    ("huge int", 10**5000, "81ce76bde25bfd3c3d11dd4a9400031d"),
    ("nan", float("nan"), "bd6a32ce47d1350c78bb49cce0d41d9b"),
    ("decimal", Decimal("1.10"), "e9a428bc2df5767ed0fff40dd24bdd92"),
    ("complex", 1 + 2j, "d90e504fd446961ed393613fe00918ec"),
    ("naive datetime", datetime(2024, 1, 1), "fa09d8318264cd24aeb739a779bacabf"),
    ("aware datetime", datetime(2024, 1, 1, tzinfo=UTC), "42e7f03f3a33e006bc53b388d2fb9892"),
    ("date", date(2024, 1, 1), "4b9b6f72b0ef9357f2ef7b289c9579b4"),
    ("time", time(1, 2), "cc3b25ab2c55c263fd692ebce92039c5"),
    ("timedelta", timedelta(days=1), "1554fe12d39cd9af238186573d82633b"),
    ("uuid", uuid.UUID(int=1), "c07b959e05eeaeb6e7d5027c6b2adcbf"),
    ("path", PurePosixPath("a/b"), "0e937d8d1797d8bd2966f2df6e52564e"),
    ("list", [1], "e19cb036fdf8caa0cf850c6d75777a2c"),
    ("tuple", (1,), "6ae8e8f0c72c0e515a2b2978f6669c02"),
    ("set", {1}, "7eeb63bcc4ce43b88210cbb3a9c08dc3"),
    ("dict", {"a": 1}, "251e287e7cfb25014106b6e08c8cd33f"),
    ("enum", Colour.RED, "f2be72c70f732f58cba916942b8f511c"),
    ("int enum", Level.HIGH, "94202e21787058f800c2a93e80fd7fe6"),
    ("dataclass", Point(1, [2]), "5fd442c186ebdbeaf9d63a7ad3e7c276"),
    ("pydantic", Customer(name="Ada", since=date(2024, 1, 1)), "0d80dab1c70ab768544a1586b4f6f4f0"),
    ("registered", Money("EUR", 150), "981f6de06118bbca5052f982adc2b0a5"),
    (
        "nested",
        {"rows": [{"id": 1, "tags": {"b", "a"}}], "at": date(2024, 3, 2)},
        "04553b586b4d333e7dfa818a2dc6349b",
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [row[1:] for row in GOLDEN], ids=[row[0] for row in GOLDEN]
)
def test_golden_values(value: object, expected: str) -> None:
    assert hash_value(value) == expected


@pytest.mark.parametrize(
    ("value", "stream"),
    [
        (1, "i1;"),
        (-255, "i-ff;"),
        ("1", "s1:1"),
        ([1, "ab"], "[2:i1;s2:ab"),
        ((None, True), "(2:NT"),
        ({"b": 1, "a": 2.5}, "{2:s1:af2.5;s1:bi1;"),
        ({"b", "a"}, "<2:s1:as1:b"),
    ],
)
def test_the_canonical_stream_is_tagged_and_self_delimiting(value: object, stream: str) -> None:
    """Spelled out for a few values, so the format is documented by a test that can fail."""
    expected = hashlib.blake2b(f"DataVersion:1;{stream}".encode(), digest_size=16).hexdigest()
    assert hash_value(value) == expected


def test_kind_tags_separate_equal_looking_values() -> None:
    values = [1, 1.0, "1", b"1", True, Decimal(1), 1 + 0j, [1], (1,), {1}, Level.HIGH]
    versions = [hash_value(value) for value in values]
    assert None not in versions
    assert len(set(versions)) == len(values)


def test_kinds_that_hold_the_same_data_share_a_version() -> None:
    assert hash_value(b"ab") == hash_value(bytearray(b"ab")) == hash_value(memoryview(b"ab"))
    assert hash_value(memoryview(b"a-b-")[::2]) == hash_value(b"ab")
    assert hash_value({1, 2}) == hash_value(frozenset({2, 1}))
    assert hash_value(Path("a/b")) == hash_value(PurePosixPath("a/b"))


def test_equal_numbers_of_one_kind_share_a_version() -> None:
    """A set or dict key holds only one of ``0.0``/``-0.0``: telling them apart would make a
    version depend on insertion order."""
    assert hash_value(0.0) == hash_value(-0.0)
    assert hash_value(float("nan")) == hash_value(-float("nan"))
    assert hash_value(Decimal("1.10")) == hash_value(Decimal("1.1"))
    assert hash_value(Decimal("0.00")) == hash_value(Decimal("-0"))
    assert hash_value(Decimal("1.1")) != hash_value(Decimal("1.01"))
    assert hash_value(Decimal("1E+2")) == hash_value(Decimal("100"))


def test_naive_and_aware_times_differ_and_zones_count_by_offset() -> None:
    naive = datetime(2024, 3, 2, 12)
    utc = naive.replace(tzinfo=UTC)
    paris = datetime(2024, 3, 2, 13, tzinfo=ZoneInfo("Europe/Paris"))
    plus_one = datetime(2024, 3, 2, 13, tzinfo=timezone(timedelta(hours=1)))
    assert hash_value(naive) != hash_value(utc)
    assert hash_value(paris) != hash_value(utc)  # same instant, different data
    assert hash_value(paris) == hash_value(plus_one)
    assert hash_value(time(1)) != hash_value(time(1, tzinfo=UTC))
    assert hash_value(date(2024, 3, 2)) != hash_value(datetime(2024, 3, 2))


def test_records_are_told_apart_by_class_name() -> None:
    assert hash_value(Point(1, [2])) == hash_value(Point(1, [2]))
    assert hash_value(Point(1, [2])) != hash_value(Vector(1, [2]))
    assert hash_value(Point(1, [2])) != hash_value(Point(1, [3]))
    customer = Customer(name="Ada", since=date(2024, 1, 1))
    assert hash_value(customer) != hash_value(customer.model_dump(mode="json"))
    assert hash_value(customer.model_copy(update={"name": "Bob"})) != hash_value(customer)
    assert hash_value(Colour.RED) != hash_value("red")


def test_subclasses_of_built_in_types_are_tagged_with_their_name() -> None:
    class Name(str):
        pass

    assert hash_value(Name("a")) is not None
    assert hash_value(Name("a")) != hash_value("a")
    assert hash_value(Level.HIGH) != hash_value(1)


def test_registered_handlers_are_used_alone_and_inside_containers() -> None:
    assert hash_value(Money("EUR", 150)) == hash_value(("EUR", 150))
    assert hash_value([Money("EUR", 150)]) not in {None, hash_value([("EUR", 150)])}
    assert hash_value([Money("EUR", 150)]) != hash_value([Money("EUR", 151)])
    assert hash_value([Money("EUR", -1)]) is None


@pytest.mark.parametrize(
    "value",
    [Opaque(), [1, Opaque()], {"a": {"b": [Opaque()]}}, {Opaque(): 1}, {1, (2, Opaque())}],
    ids=["alone", "in a list", "deep in a dict", "as a key", "in a set"],
)
def test_a_value_with_an_unhashable_part_has_no_version(value: object) -> None:
    assert hash_value(value) is None


def test_a_model_without_a_json_form_has_no_version() -> None:
    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        held: Opaque

    assert hash_value(Holder(held=Opaque())) is None


def _nested(depth: int, wrap: Any) -> object:
    value: object = 1
    for _ in range(depth):
        value = wrap(value)
    return value


@pytest.mark.parametrize(
    "wrap",
    [lambda inner: [inner], lambda inner: {"k": inner}, lambda inner: frozenset([inner])],
    ids=["list", "dict", "frozenset"],
)
def test_deep_values_do_not_crash(wrap: Any) -> None:
    assert hash_value(_nested(90, wrap)) is not None
    assert hash_value(_nested(20_000, wrap)) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def _reordered(value: object) -> object:
    """An equal value whose dicts were built in reverse insertion order."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


@settings(max_examples=200, derandomize=True, deadline=None)
@given(json_values)
def test_equal_values_hash_equal_whatever_the_dict_order(value: object) -> None:
    version = hash_value(value)
    assert version is not None
    assert hash_value(_reordered(value)) == version == hash_value(copy.deepcopy(value))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.text() | st.integers() | st.tuples(st.text(), st.floats()), unique=True))
def test_set_order_does_not_matter(items: list[Any]) -> None:
    version = hash_value(set(items))
    assert hash_value(set(reversed(items))) == version
    assert hash_value(frozenset(sorted(items, key=repr))) == version


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(scalars | st.binary(), scalars | st.binary())
def test_values_that_differ_in_kind_or_value_hash_differently(left: object, right: object) -> None:
    if type(left) is type(right) and left == right:
        assert hash_value(left) == hash_value(right)
    else:
        assert hash_value(left) != hash_value(right)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_lists_and_tuples_differ(items: list[object]) -> None:
    assert hash_value(items) != hash_value(tuple(items))


_SUBPROCESS = """
import json, sys
from flowstone.versioning.data_version import hash_value
words = [f"word-{number}" for number in range(300)]
print(json.dumps([hash_value(set(words)), hash_value({word: len(word) for word in words}),
                  hash_value(frozenset((word, i) for i, word in enumerate(words)))]))
"""


def test_sets_of_strings_hash_alike_under_different_hash_seeds() -> None:
    """The acceptance bullet: set iteration order follows PYTHONHASHSEED, versions must not."""
    outputs = []
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    assert None not in outputs[0]


def test_hashing_never_imports_a_table_library() -> None:
    code = (
        "import sys, flowstone; from flowstone.versioning.data_version import hash_value; "
        "hash_value([1, {'a': (2.0, b'x')}]); "
        "print(sorted({'numpy', 'pandas', 'pyarrow', 'polars'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_numpy_arrays_hash_by_dtype_shape_and_bytes() -> None:
    import numpy

    array = numpy.arange(12, dtype="float64").reshape(3, 4)
    assert hash_value(array) == hash_value(numpy.asfortranarray(array)) == hash_value(array.copy())
    assert hash_value(array) != hash_value(array.astype("float32"))
    assert hash_value(array) != hash_value(array.reshape(4, 3))
    assert hash_value(numpy.array(["a", None], dtype=object)) is not None
    assert hash_value(numpy.array([Opaque()], dtype=object)) is None
    assert hash_value([array, numpy.int64(3)]) is not None


def test_pandas_values_hash_by_rows_labels_and_dtypes() -> None:
    import pandas

    frame = pandas.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert hash_value(frame) == hash_value(frame.copy())
    assert hash_value(frame) != hash_value(frame.rename(columns={"a": "c"}))
    assert hash_value(frame) != hash_value(frame.astype({"a": "float64"}))
    assert hash_value(frame) != hash_value(frame.iloc[::-1])
    assert hash_value(frame["a"]) != hash_value(frame[["a"]])
    assert hash_value({"frame": frame}) is not None


def test_pyarrow_tables_hash_by_content_not_chunking() -> None:
    import pyarrow

    table = pyarrow.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    pieces = pyarrow.concat_tables([table.slice(0, 1), table.slice(1)])
    assert hash_value(table) == hash_value(pieces)
    assert hash_value(table) != hash_value(pyarrow.table({"a": [1, 2, 4], "b": ["x", "y", "z"]}))
    assert hash_value(table.to_batches()[0]) is not None


def test_polars_values_hash_by_content_not_chunking() -> None:
    import polars

    frame = polars.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    pieces = polars.concat([frame[:1], frame[1:]], rechunk=False)
    assert hash_value(frame) == hash_value(pieces)
    assert hash_value(frame) != hash_value(frame.with_columns(polars.col("a") + 1))
    assert hash_value(frame["a"]) not in {None, hash_value(frame)}
    assert hash_value(frame.lazy()) is None  # a query, not a value
