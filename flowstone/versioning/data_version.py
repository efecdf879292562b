"""Data versions: content hashes of asset values, the same for equal values in every process.

Owns ``hash_value`` and the canonical encoding behind it. Each value is written as a tagged,
self-delimiting token stream (so ``1``, ``1.0``, ``"1"``, ``b"1"`` and ``True`` differ), with dict
keys and set elements sorted by their own encoding, so neither insertion order nor
``PYTHONHASHSEED`` can change a version. Never hashes a pickle: pickles of equal values differ
between processes. Tables and arrays of libraries that are already imported are hashed through
their own stable hashing or serialisation; this module never imports them. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import importlib
import math
import sys
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from operator import itemgetter
from pathlib import PosixPath, PurePath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any, Final

from flowstone.keys import DataVersion

_FORMAT: Final = "DataVersion:1;"
"""Leads every canonical stream: a new encoding gets a new number, so old and new never meet."""

_MAX_DEPTH: Final = 100
"""Containers nested deeper than this are not hashed: the caller falls back to provenance."""

_FLUSH_AT: Final = 4096
"""Buffered parts are fed to the hash object once this many have piled up, bounding memory."""

_Encoder = Callable[[Any, "_Buffer", int], None]


class Unhashable(Exception):
    """Raised inside the encoder when any part of a value has no canonical form."""


class _Buffer(list[str]):
    """Canonical text parts; with a hash object it flushes into it as it grows."""

    __slots__ = ("hasher",)

    def __init__(self, hasher: hashlib.blake2b | None = None) -> None:
        super().__init__()
        self.hasher = hasher

    def flush(self) -> None:
        if self.hasher is not None:
            self.hasher.update("".join(self).encode("utf-8", "surrogatepass"))
            self.clear()


@functools.singledispatch
def hash_value(value: Any) -> DataVersion | None:
    """The data version of ``value``: a 32-character hex content hash, or ``None``.

    Equal values give equal versions in every process, whatever their dict or set order. A value
    with no canonical form (or one that holds such a value, or nests over 100 containers deep)
    gives ``None``: the caller then uses ``fallback_data_version`` and ``status`` says so.

    Handles None, bool, int, float, complex, Decimal, str, bytes-like values, dates and times,
    UUID, Path, Enum, list, tuple, dict, set, frozenset, dataclasses and pydantic models, plus
    NumPy arrays, pandas, pyarrow and polars tables when those libraries are imported. Register
    your own types: alone, a value's version is your handler's result; inside a container it is
    tagged with the type's name. Built-in kinds keep their canonical form::

        @hash_value.register(Money)
        def _(value: Money) -> str | None:
            return hash_value((value.currency, str(value.amount)))

    Example:
        >>> hash_value({"b": 1, "a": {2, 3}}) == hash_value({"a": {3, 2}, "b": 1})
        True
        >>> hash_value(1) == hash_value(1.0)
        False
    """
    if _register_library_of(type(value)):
        return hash_value(value)
    return _hash_canonical(value)


def _hash_canonical(value: Any) -> DataVersion | None:
    """Hash the canonical stream of ``value`` into one hash object as it is written."""
    hasher = hashlib.blake2b(digest_size=16)
    out = _Buffer(hasher)
    out.append(_FORMAT)
    try:
        _encode(value, out, 0)
    except (Unhashable, RecursionError):
        return None
    out.flush()
    return hasher.hexdigest()


def encode_text(value: Any, depth: int = 0) -> str:
    """The canonical text of ``value`` on its own: what dict keys and set elements sort by."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    out = _Buffer()
    _encode(value, out, depth)
    return "".join(out)


def _encode(value: Any, out: _Buffer, depth: int) -> None:
    cls = type(value)
    if (scalar := _SCALARS.get(cls)) is not None:
        out.append(scalar(value))
    elif (container := _CONTAINERS.get(cls)) is not None:
        container(value, out, depth)
    else:
        _encode_other(value, out, depth)


def _encode_other(value: Any, out: _Buffer, depth: int) -> None:
    """Types outside the exact-type tables: registered handlers, enums, records, subclasses."""
    cls = type(value)
    _register_library_of(cls)
    handler = hash_value.dispatch(cls)
    if handler is not _hash_canonical and handler is not _DEFAULT_HANDLER:
        version = handler(value)
        if version is None:
            raise Unhashable
        out.append(f"h{_sized(cls.__qualname__)}{_sized(version)}")
    elif isinstance(value, enum.Enum):
        out.append(f"e{_sized(cls.__qualname__)}")
        _encode(value.value, out, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _encode_dataclass(value, out, depth)
    elif _is_pydantic_model(value):
        _encode_pydantic(value, out, depth)
    else:  # a subclass of a built-in type: its base's form, tagged with its own name
        base = next((base for base in cls.__mro__ if base in _SCALARS or base in _CONTAINERS), None)
        if base is None:
            raise Unhashable
        out.append(f"x{_sized(cls.__qualname__)}")
        if base in _SCALARS:
            out.append(_SCALARS[base](value))
        else:
            _CONTAINERS[base](value, out, depth)


def _sized(text: str) -> str:
    return f"{len(text)}:{text}"


def _float_text(value: float) -> str:
    """``repr`` with one NaN and one zero: a set or dict key cannot hold both ``0.0`` and
    ``-0.0``, so telling them apart would make the version depend on insertion order."""
    if value == 0.0:
        return "0.0"
    if math.isnan(value):
        return "nan"
    return repr(value)


def _decimal_text(value: Decimal) -> str:
    """Equal decimals agree: ``Decimal("1.10")`` is written as ``Decimal("1.1")``."""
    if not value.is_finite():
        return f"d{value};"
    if value.is_zero():
        return "d0;"
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent = int(exponent) + len(digits) - len(text)
    return f"d{'-' if sign else ''}{text}e{exponent};"


def _bytes_text(value: bytes | bytearray | memoryview) -> str:
    # Bytes go in as their own digest: raw bytes cannot sit in the text stream without copies.
    view = memoryview(value)
    data = view if view.c_contiguous else view.tobytes()
    return f"b{view.nbytes}:{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def _offset_text(value: dt.datetime | dt.time) -> str:
    """``-`` when naive, else the UTC offset in microseconds (or the zone's name, for a time
    whose zone has no fixed offset): naive and aware values never meet."""
    if value.tzinfo is None:
        return "-"
    offset = value.utcoffset()
    if offset is None:
        return f"z{_sized(str(value.tzinfo))}"
    return str(offset // dt.timedelta(microseconds=1))


def _encode_list(value: list[Any] | tuple[Any, ...], out: _Buffer, depth: int) -> None:
    if depth >= _MAX_DEPTH:
        raise Unhashable
    out.append(f"{'(' if isinstance(value, tuple) else '['}{len(value)}:")
    for item in value:
        _encode(item, out, depth + 1)
        if len(out) >= _FLUSH_AT:
            out.flush()


def _encode_dict(value: dict[Any, Any], out: _Buffer, depth: int) -> None:
    if depth >= _MAX_DEPTH:
        raise Unhashable
    pairs = [(encode_text(key, depth + 1), item) for key, item in value.items()]
    pairs.sort(key=itemgetter(0))
    out.append(f"{{{len(pairs)}:")
    for key_text, item in pairs:
        out.append(key_text)
        _encode(item, out, depth + 1)
    if len(out) >= _FLUSH_AT:
        out.flush()


def _encode_set(value: set[Any] | frozenset[Any], out: _Buffer, depth: int) -> None:
    # Sorted by canonical text, never by hash(): str hashes change with PYTHONHASHSEED.
    if depth >= _MAX_DEPTH:
        raise Unhashable
    out.append(f"<{len(value)}:")
    out.extend(sorted(encode_text(item, depth + 1) for item in value))


def _encode_dataclass(value: Any, out: _Buffer, depth: int) -> None:
    if depth >= _MAX_DEPTH:
        raise Unhashable
    fields = dataclasses.fields(value)
    out.append(f"o{_sized(type(value).__qualname__)}{len(fields)}:")
    for field in fields:
        out.append(_sized(field.name))
        _encode(getattr(value, field.name), out, depth + 1)


def _is_pydantic_model(value: object) -> bool:
    # A model instance implies pydantic is imported; looking it up avoids importing it here.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def _encode_pydantic(value: Any, out: _Buffer, depth: int) -> None:
    try:
        dumped = value.model_dump(mode="json")
    except (TypeError, ValueError) as exc:  # fields with no JSON form
        raise Unhashable from exc
    out.append(f"m{_sized(type(value).__qualname__)}")
    _encode(dumped, out, depth + 1)


def _path_text(value: PurePath) -> str:
    return f"p{_sized(value.as_posix())}"


_SCALARS: Final[dict[type, Callable[[Any], str]]] = {
    type(None): lambda value: "N",
    bool: lambda value: "T" if value else "F",
    # Hex, not decimal: decimal conversion of huge ints is capped by the interpreter.
    int: lambda value: f"i{value:x};",
    float: lambda value: f"f{_float_text(value)};",
    complex: lambda value: f"c{_float_text(value.real)},{_float_text(value.imag)};",
    Decimal: _decimal_text,
    str: lambda value: f"s{len(value)}:{value}",
    bytes: _bytes_text,
    bytearray: _bytes_text,
    memoryview: _bytes_text,
    # Wall time plus offset: the same instant shown in another zone is different data.
    dt.datetime: lambda value: f"D{value.replace(tzinfo=None).isoformat()}@{_offset_text(value)};",
    dt.date: lambda value: f"a{value.isoformat()};",
    dt.time: lambda value: f"h{value.replace(tzinfo=None).isoformat()}@{_offset_text(value)};",
    dt.timedelta: lambda value: f"r{value.days},{value.seconds},{value.microseconds};",
    uuid.UUID: lambda value: f"u{value.hex}",
    PurePosixPath: _path_text,
    PureWindowsPath: _path_text,
    PosixPath: _path_text,
    WindowsPath: _path_text,
}
"""Canonical text of values without parts, by exact type; each is self-delimiting."""

_CONTAINERS: Final[dict[type, _Encoder]] = {
    list: _encode_list,
    tuple: _encode_list,
    dict: _encode_dict,
    set: _encode_set,
    frozenset: _encode_set,
}
"""Encoders of values with parts, by exact type; subclasses go through ``_encode_other``."""

_DEFAULT_HANDLER: Final = hash_value.dispatch(object)

for _cls in (*_SCALARS, *_CONTAINERS, enum.Enum):
    # Registered so that a user's handler for ``object`` or an ABC never captures them.
    hash_value.register(_cls, _hash_canonical)


# Libraries: registered the first time one of their values is seen, and only if imported.


def _register_library_of(cls: type) -> bool:
    """Register the handlers of the library ``cls`` comes from; True if any were pending."""
    library = cls.__module__.partition(".")[0]
    if library not in _LIBRARY_HANDLERS or library not in sys.modules:
        return False
    with _REGISTRATION_LOCK:  # other threads wait until every handler is in place
        for type_path, handler_path in _LIBRARY_HANDLERS.get(library, ()):
            hash_value.register(_resolve(type_path), _resolve(handler_path))
        _LIBRARY_HANDLERS.pop(library, None)  # only now: a racing thread waits on the lock
    return True


def _resolve(path: str) -> Any:
    """The object a dotted ``module:attribute.attribute`` path names, importing the module."""
    module, _, attributes = path.partition(":")
    return functools.reduce(getattr, attributes.split("."), importlib.import_module(module))


def digest(tag: str, header: object, *blobs: Any) -> DataVersion:
    """Hash a tagged canonical header, then raw buffers; raises ``Unhashable`` if the header
    has no canonical form. The buffer sizes are in the header, so the stream is unambiguous."""
    text = encode_text([tag, header, [memoryview(blob).nbytes for blob in blobs]])
    hasher = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
    for blob in blobs:
        hasher.update(blob)
    return hasher.hexdigest()


_TABLES: Final = "flowstone.versioning.table_hashing:"
_PANDAS: Final = "flowstone.versioning.pandas_hashing:"

_LIBRARY_HANDLERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "numpy": (
        ("numpy:ndarray", f"{_TABLES}hash_numpy"),
        ("numpy:generic", f"{_TABLES}hash_numpy"),
    ),
    "pandas": (
        ("pandas:DataFrame", f"{_PANDAS}hash_pandas"),
        ("pandas:Series", f"{_PANDAS}hash_pandas"),
        ("pandas:Index", f"{_PANDAS}hash_pandas"),
        ("pandas:Timestamp", f"{_PANDAS}hash_pandas_scalar"),
        ("pandas:Timedelta", f"{_PANDAS}hash_pandas_scalar"),
        ("pandas:api.typing.NaTType", f"{_PANDAS}hash_pandas_scalar"),
        ("pandas:api.typing.NAType", f"{_PANDAS}hash_pandas_scalar"),
    ),
    "pyarrow": (
        ("pyarrow:Table", f"{_TABLES}hash_arrow"),
        ("pyarrow:RecordBatch", f"{_TABLES}hash_arrow"),
    ),
    "polars": (
        ("polars:DataFrame", f"{_TABLES}hash_polars"),
        ("polars:Series", f"{_TABLES}hash_polars"),
    ),
}
"""Handlers waiting for their library to be imported: (type, handler) paths by top-level module.
Handlers live in modules of their own, imported only when a value of their library is seen."""

_REGISTRATION_LOCK: Final = threading.Lock()
